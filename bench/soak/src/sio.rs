//! Socket.IO: runs `sio-soak.cjs` (the official socket.io-client in Node, with reconnect
//! churn on three transports) and adds what it reports to the kind's counters. The script
//! defines accepted and lost for this kind (see its header). When the load stops its stdin is
//! closed; it then waits for the grace period, counts and exits.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::ctx::Ctx;
use crate::stats::Kind;

/// What the script prints, one object per line.
#[derive(Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
enum Report {
    Tick {
        sent: u64,
        accepted: u64,
        received: u64,
        expected: u64,
        reordered: u64,
        duplicated: u64,
        errors: u64,
        lat: Vec<f64>,
    },
    Loss {
        #[serde(rename = "sentMs")]
        sent_ms: u64,
        place: String,
        n: u64,
    },
    Note {
        msg: String,
    },
    Done {
        sessions: serde_json::Value,
    },
}

pub struct Options<'a> {
    pub script: &'a Path,
    pub clients: usize,
    pub rate: f64,
    pub churn: (f64, f64),
}

pub async fn run(ctx: Arc<Ctx>, kind: Arc<Kind>, o: Options<'_>) {
    let config = serde_json::json!({
        "urls": ctx.servers.iter().map(|s| format!("http://{}", s.addr)).collect::<Vec<_>>(),
        "names": ctx.servers.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        "clients": o.clients,
        "rate": o.rate,
        "churn": [o.churn.0, o.churn.1],
        "graceMs": ctx.grace.as_millis() as u64,
    });
    let mut child = match Command::new("node")
        .arg(o.script)
        .arg(config.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // Not in the terminal's process group: Ctrl-C stops the load (stdin closes), and the
        // script still has to count.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            Kind::add(&kind.failures, 1);
            kind.note(format!("cannot start node {}: {e}", o.script.display()));
            return;
        }
    };
    let stdin = child.stdin.take();
    let Some(stdout) = child.stdout.take() else {
        return;
    };
    let mut lines = BufReader::new(stdout).lines();
    // Close its stdin when the load stops.
    let stopper = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let _ = ctx.stopping().await;
            drop(stdin);
        })
    };
    let mut done = false;
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<Report>(&line) {
                Ok(r) => done |= add(&kind, r),
                Err(e) => kind.note(format!("unreadable report from the script ({e}): {line}")),
            }
        }
    };
    // It stops within the grace period after the load stops; give it as long again.
    let limit = async {
        let _ = ctx.stopping().await;
        tokio::time::sleep(ctx.grace * 2 + Duration::from_secs(10)).await;
    };
    tokio::select! {
        _ = read => {}
        _ = limit => kind.note("the Socket.IO script did not finish in time".into()),
    }
    if !done {
        Kind::add(&kind.failures, 1);
        kind.note("the Socket.IO script ended without its final count".into());
    }
    stopper.abort();
    let _ = child.kill().await;
}

/// Adds one report to the counters; `true` for the last one.
fn add(kind: &Kind, r: Report) -> bool {
    match r {
        Report::Tick {
            sent,
            accepted,
            received,
            expected,
            reordered,
            duplicated,
            errors,
            lat,
        } => {
            Kind::add(&kind.sent, sent);
            Kind::add(&kind.accepted, accepted);
            Kind::add(&kind.received, received);
            Kind::add(&kind.expected, expected);
            Kind::add(&kind.reordered, reordered);
            Kind::add(&kind.duplicated, duplicated);
            Kind::add(&kind.errors, errors);
            for ms in lat {
                kind.latency.record_us((ms * 1000.0) as u64);
            }
            false
        }
        Report::Loss { sent_ms, place, n } => {
            kind.lose(sent_ms, &place, n);
            false
        }
        Report::Note { msg } => {
            kind.note(msg);
            false
        }
        Report::Done { sessions } => {
            kind.note(format!("sessions opened: {sessions}"));
            true
        }
    }
}
