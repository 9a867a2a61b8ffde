//! The end of the run: a table per kind (sent, accepted, expected, received, lost, reordered,
//! duplicated, errors, p50/p99/max latency), the memory and descriptors of each server (idle,
//! after the warm-up, last, after every client left) with their verdicts, the losses grouped
//! in bursts and lined up with the Redis restarts, the notes, and the verdict. The same as
//! JSON lines with `-o FILE`.

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::json;

use crate::args::Server;
use crate::clock::Clock;
use crate::histogram::ms;
use crate::procs::{FD_SLACK, History, RSS_FACTOR, RSS_SLACK_KIB};

/// Seconds between the last client leaving and the "after" reading (main.rs's SETTLE).
pub const SETTLE_S: u64 = 5;
use crate::restarts::{Restart, nearest};
use crate::stats::{Kind, Loss};

/// Losses further apart than this are separate bursts.
const BURST_GAP_MS: u64 = 3000;

pub struct Run<'a> {
    pub clock: &'a Clock,
    pub kinds: &'a [Arc<Kind>],
    pub servers: &'a [Server],
    pub histories: &'a [History],
    pub restarts: &'a [Restart],
    pub load_secs: f64,
    pub interrupted: bool,
    pub warm_end_ms: u64,
    pub stop_ms: u64,
    pub window_ms: u64,
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// Prints the summary and returns its JSON lines and whether every check passed.
pub fn summary(run: &Run<'_>) -> (Vec<serde_json::Value>, bool) {
    let c = run.clock;
    let mut json = Vec::new();
    let mut failed = Vec::new();
    let mut s = String::new();
    let restarts: Vec<String> = run
        .restarts
        .iter()
        .map(|r| match r.up_ms {
            Some(up) => format!("down {} up {}", c.label(r.down_ms), c.label(up)),
            None => format!("down {} (not up again)", c.label(r.down_ms)),
        })
        .collect();
    let _ = writeln!(
        s,
        "\n== soak summary: {:.0} s of load{}; Redis restarted {} time(s){}{}",
        run.load_secs,
        if run.interrupted {
            " (interrupted)"
        } else {
            ""
        },
        run.restarts.len(),
        if restarts.is_empty() { "" } else { ": " },
        restarts.join(", ")
    );
    let _ = writeln!(
        s,
        "{:<10}{:>10}{:>10}{:>11}{:>11}{:>8}{:>10}{:>6}{:>8}{:>9}{:>9}{:>9}",
        "kind",
        "sent",
        "accepted",
        "expected",
        "received",
        "lost",
        "reordered",
        "dup",
        "errors",
        "p50 ms",
        "p99 ms",
        "max ms"
    );
    for k in run.kinds {
        let h = k.latency.snapshot();
        let row = json!({
            "kind": k.name,
            "sent": Kind::get(&k.sent),
            "accepted": Kind::get(&k.accepted),
            "expected": Kind::get(&k.expected),
            "received": Kind::get(&k.received),
            "lost": Kind::get(&k.lost),
            "reordered": Kind::get(&k.reordered),
            "duplicated": Kind::get(&k.duplicated),
            "errors": Kind::get(&k.errors),
            "failures": Kind::get(&k.failures),
            "p50_us": h.quantile(0.5),
            "p99_us": h.quantile(0.99),
            "max_us": h.max(),
        });
        let _ = writeln!(
            s,
            "{:<10}{:>10}{:>10}{:>11}{:>11}{:>8}{:>10}{:>6}{:>8}{:>9}{:>9}{:>9}",
            k.name,
            Kind::get(&k.sent),
            Kind::get(&k.accepted),
            Kind::get(&k.expected),
            Kind::get(&k.received),
            Kind::get(&k.lost),
            Kind::get(&k.reordered),
            Kind::get(&k.duplicated),
            Kind::get(&k.errors),
            ms(h.quantile(0.5)),
            ms(h.quantile(0.99)),
            ms(h.max()),
        );
        if Kind::get(&k.lost) > 0 {
            failed.push(format!("{} lost {}", k.name, Kind::get(&k.lost)));
        }
        if Kind::get(&k.failures) > 0 {
            failed.push(format!(
                "{} failed {} check(s)",
                k.name,
                Kind::get(&k.failures)
            ));
        }
        if Kind::get(&k.sent) == 0 {
            failed.push(format!("{} sent nothing", k.name));
        }
        json.push(row);
    }
    let _ = writeln!(
        s,
        "\nRSS flat: the last reading of the load <= the first after the warm-up x {RSS_FACTOR} \
         + {} MiB. fds grew: the least of the last minute of the load above the most of the \
         first minute after the warm-up, or more than {FD_SLACK} over idle {SETTLE_S} s after \
         every client left (after). RSS in MiB.",
        RSS_SLACK_KIB / 1024
    );
    let _ = writeln!(
        s,
        "{:<8}{:>9}{:>9}{:>8}{:>8}{:>6}{:>8} |{:>9}{:>11}{:>10}{:>7}{:>6}",
        "process",
        "rss idle",
        "warm-up",
        "last",
        "limit",
        "flat",
        "after",
        "fds idle",
        "first max",
        "last min",
        "after",
        "grew"
    );
    for (srv, h) in run.servers.iter().zip(run.histories) {
        let Some(v) = h.verdict(run.warm_end_ms, run.stop_ms, run.window_ms) else {
            let _ = writeln!(s, "{:<8} no samples after the warm-up", srv.name);
            failed.push(format!("{}: no samples after the warm-up", srv.name));
            continue;
        };
        let yn = |b: bool| if b { "yes" } else { "NO" };
        let _ = writeln!(
            s,
            "{:<8}{:>9}{:>9}{:>8}{:>8}{:>6}{:>8} |{:>9}{:>11}{:>10}{:>7}{:>6}",
            srv.name,
            h.idle.map_or("-".into(), |x| mib(x.rss_kib)),
            mib(v.warm.rss_kib),
            mib(v.last.rss_kib),
            mib(v.rss_limit_kib),
            yn(v.rss_flat),
            h.after.map_or("-".into(), |x| mib(x.rss_kib)),
            h.idle.map_or("-".into(), |x| x.fds.to_string()),
            v.fds_first_max,
            v.fds_last_min,
            h.after.map_or("-".into(), |x| x.fds.to_string()),
            if v.fds_grew { "YES" } else { "no" },
        );
        if !v.rss_flat {
            failed.push(format!("{}: RSS grew", srv.name));
        }
        if v.fds_grew {
            failed.push(format!("{}: fds grew", srv.name));
        }
        json.push(json!({
            "process": srv.name,
            "rss_idle_kib": h.idle.map(|x| x.rss_kib),
            "rss_warm_kib": v.warm.rss_kib,
            "rss_last_kib": v.last.rss_kib,
            "rss_after_kib": h.after.map(|x| x.rss_kib),
            "rss_limit_kib": v.rss_limit_kib,
            "rss_flat": v.rss_flat,
            "fds_idle": h.idle.map(|x| x.fds),
            "fds_warm": v.warm.fds,
            "fds_last": v.last.fds,
            "fds_first_max": v.fds_first_max,
            "fds_last_min": v.fds_last_min,
            "fds_after": h.after.map(|x| x.fds),
            "fds_grew": v.fds_grew,
        }));
    }
    for k in run.kinds {
        let losses = k.losses();
        if losses.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n{} losses (by send time):", k.name);
        for b in bursts(losses) {
            let n: u64 = b.iter().map(|l| l.n).sum();
            let (first, last) = (b[0].sent_ms, b[b.len() - 1].sent_ms);
            let near = match nearest(run.restarts, first) {
                Some((r, d)) => format!(
                    "; the first {:+.1} s from Redis going down at {}",
                    d as f64 / 1000.0,
                    c.label(r.down_ms),
                ),
                None => String::new(),
            };
            let _ = writeln!(s, "  {n} sent {}..{}{near}", c.label(first), c.label(last));
            for l in b.iter().take(4) {
                let _ = writeln!(s, "    {} at {}", l.place, c.label(l.sent_ms));
            }
            if b.len() > 4 {
                let _ = writeln!(s, "    ... and {} more", b.len() - 4);
            }
            json.push(json!({
                "loss_burst": k.name, "lost": n, "first_ms": first, "last_ms": last,
                "first": c.label(first), "last": c.label(last),
                "places": b.iter().take(20).map(|l| l.place.clone()).collect::<Vec<_>>(),
            }));
        }
    }
    let notes: Vec<(String, String)> = run
        .kinds
        .iter()
        .flat_map(|k| k.notes().into_iter().map(move |n| (k.name.to_owned(), n)))
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(s, "\nnotes:");
        for (k, n) in notes.iter().take(60) {
            let _ = writeln!(s, "  {k}: {n}");
        }
        if notes.len() > 60 {
            let _ = writeln!(s, "  ... and {} more", notes.len() - 60);
        }
    }
    let ok = failed.is_empty();
    let _ = writeln!(
        s,
        "\nverdict: {}",
        if ok {
            "PASS".to_owned()
        } else {
            format!("FAIL ({})", failed.join("; "))
        }
    );
    print!("{s}");
    json.push(json!({
        "run": {
            "load_s": run.load_secs,
            "interrupted": run.interrupted,
            "redis_restarts": run.restarts.iter().map(|r| json!({"down_ms": r.down_ms, "up_ms": r.up_ms})).collect::<Vec<_>>(),
            "ok": ok,
            "failed": failed,
        }
    }));
    (json, ok)
}

/// Losses sorted by send time, split where BURST_GAP_MS passes without one.
fn bursts(mut losses: Vec<Loss>) -> Vec<Vec<Loss>> {
    losses.sort_by_key(|l| l.sent_ms);
    let mut out: Vec<Vec<Loss>> = Vec::new();
    for l in losses {
        match out.last_mut() {
            Some(b) if l.sent_ms <= b[b.len() - 1].sent_ms + BURST_GAP_MS => b.push(l),
            _ => out.push(vec![l]),
        }
    }
    out
}
