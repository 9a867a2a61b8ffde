//! The final report: a table for people, one JSON object for machines.

use std::collections::BTreeMap;
use std::io::Write;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles of the measured echoes, in microseconds.
#[derive(Debug, Serialize)]
pub struct Latency {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
}

impl Latency {
    /// From a histogram of nanoseconds; `None` when it is empty.
    pub fn from_ns(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Some(Self {
            min: us(h.min()),
            mean: h.mean() / 1000.0,
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p99_9: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        })
    }
}

/// Open-loop send lag, in microseconds.
#[derive(Debug, Serialize)]
pub struct SendLag {
    pub mean: f64,
    pub max: f64,
}

/// Everything `wsx bench` reports.
#[derive(Debug, Serialize)]
pub struct Report {
    pub url: String,
    /// Connections asked for.
    pub connections: usize,
    /// Connections that completed the handshake.
    pub connected: usize,
    /// Payload bytes per message.
    pub size: usize,
    pub binary: bool,
    /// "closed" (ping-pong, `pipeline` in flight per connection), "open" (`rate`) or "idle"
    /// (connections held open, nothing sent, for `duration_s`).
    pub mode: &'static str,
    pub pipeline: Option<usize>,
    /// Open loop: messages per second asked for, in total.
    pub rate: Option<u64>,
    /// permessage-deflate offered.
    pub deflate: bool,
    /// Connections on which the server accepted it.
    pub deflate_negotiated: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// Messages sent during the measurement (open loop: scheduled then).
    pub sent: u64,
    /// Of those, echoes received intact: what throughput counts.
    pub msgs: u64,
    /// Their payload bytes.
    pub bytes: u64,
    pub msgs_per_sec: f64,
    /// Payload megabytes (10⁶ bytes) echoed per second.
    pub mb_per_sec: f64,
    pub latency_us: Option<Latency>,
    /// Open loop: how late messages went out after their scheduled time, in µs. Latency
    /// counts from the scheduled time, so this much of it is the load generator's own doing
    /// (tokio's timers have a resolution of 1 ms).
    pub send_lag_us: Option<SendLag>,
    /// All errors, handshake failures included.
    pub errors: u64,
    pub errors_by_kind: BTreeMap<&'static str, u64>,
    /// Handshake failures by message.
    pub connect_errors: BTreeMap<String, u64>,
    /// Connections that ended early, by reason.
    pub lost: BTreeMap<String, u64>,
    /// Close codes received, by code ("1006": the connection ended without a close frame).
    pub close_codes: BTreeMap<String, u64>,
    /// CPU this process used during the measurement, in % of one core.
    pub client_cpu_percent: Option<f64>,
    /// Cores it could use (worker threads, at most the CPUs it may run on).
    pub client_cores: usize,
    /// Whether it used ≥ 90% of those: then it, not the server, was probably the limit.
    pub client_bound: bool,
    /// `--server-pid`: the server process whose CPU time was read from /proc.
    pub server_pid: Option<u32>,
    /// Its CPU use during the measurement, in % of one core.
    pub server_cpu_percent: Option<f64>,
    /// Its CPU time during the measurement divided by the echoes counted, in µs.
    pub server_cpu_us_per_msg: Option<f64>,
    /// Said when the load generator was probably the bottleneck.
    pub note: Option<String>,
    pub exit_code: u8,
}

/// `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency in µs, shown in µs, ms or s.
pub fn fmt_us(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

fn fmt_secs(s: f64) -> String {
    if s == s.trunc() {
        format!("{s:.0}s")
    } else {
        let n = format!("{s:.3}");
        format!("{}s", n.trim_end_matches('0').trim_end_matches('.'))
    }
}

fn fmt_size(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

fn counts<K: std::fmt::Display>(m: &BTreeMap<K, u64>) -> String {
    m.iter()
        .map(|(k, n)| format!("{k} ×{}", group(*n)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Report {
    /// The one-line JSON form.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The note when the load generator itself was probably the limit.
    pub fn bottleneck_note(&self) -> Option<String> {
        let cpu = self.client_cpu_percent?;
        self.client_bound.then(|| {
            format!(
                "the load generator used {cpu:.0}% of its {} core{}, so it was probably the \
                 bottleneck and these numbers understate the server (give it more --threads \
                 and CPUs)",
                self.client_cores,
                if self.client_cores == 1 { "" } else { "s" }
            )
        })
    }

    /// The table for people.
    pub fn write_table(&self, out: &mut impl Write) -> std::io::Result<()> {
        let connected = if self.connected == self.connections {
            String::new()
        } else {
            format!(" ({} connected)", group(self.connected as u64))
        };
        let mode = match (self.rate, self.pipeline) {
            _ if self.mode == "idle" => "idle".to_owned(),
            (Some(r), _) => format!("open loop at {} msgs/s", group(r)),
            (None, Some(p)) if p > 1 => format!("closed loop, pipeline {p}"),
            _ => "closed loop (ping-pong)".to_owned(),
        };
        let deflate = match (self.deflate, self.deflate_negotiated) {
            (false, _) => "deflate off".to_owned(),
            (true, n) if n == self.connected => "deflate on".to_owned(),
            (true, 0) => "deflate offered, refused by the server".to_owned(),
            (true, n) => format!("deflate on {n} of {} connections", self.connected),
        };
        let warmup = if self.warmup_s > 0.0 {
            format!("{} warm-up + ", fmt_secs(self.warmup_s))
        } else {
            String::new()
        };
        writeln!(
            out,
            "{} · {} connections{connected} · {} {} · {mode} · {deflate} · {warmup}{} measured",
            self.url,
            group(self.connections as u64),
            fmt_size(self.size),
            if self.binary { "binary" } else { "text" },
            fmt_secs(self.duration_s),
        )?;
        writeln!(
            out,
            "  msgs/s       {}",
            group(self.msgs_per_sec.round() as u64)
        )?;
        writeln!(out, "  MB/s         {:.2}", self.mb_per_sec)?;
        match &self.latency_us {
            Some(l) => writeln!(
                out,
                "  latency      p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                fmt_us(l.p50),
                fmt_us(l.p90),
                fmt_us(l.p99),
                fmt_us(l.p99_9),
                fmt_us(l.max)
            )?,
            None => writeln!(out, "  latency      -")?,
        }
        if let Some(lag) = &self.send_lag_us {
            writeln!(
                out,
                "  send lag     mean {}  max {}  (latency counts from the scheduled send time)",
                fmt_us(lag.mean),
                fmt_us(lag.max)
            )?;
        }
        writeln!(
            out,
            "  messages     {} echoed intact of {} sent",
            group(self.msgs),
            group(self.sent)
        )?;
        if self.errors == 0 {
            writeln!(out, "  errors       none")?;
        } else {
            writeln!(out, "  errors       {}", counts(&self.errors_by_kind))?;
        }
        if !self.connect_errors.is_empty() {
            writeln!(out, "  connect      {}", counts(&self.connect_errors))?;
        }
        if !self.lost.is_empty() {
            writeln!(out, "  lost         {}", counts(&self.lost))?;
        }
        if !self.close_codes.is_empty() {
            writeln!(out, "  close codes  {}", counts(&self.close_codes))?;
        }
        match self.client_cpu_percent {
            Some(c) => writeln!(
                out,
                "  client CPU   {c:.0}% of one core ({} core{} available)",
                self.client_cores,
                if self.client_cores == 1 { "" } else { "s" }
            )?,
            None => writeln!(out, "  client CPU   unknown")?,
        }
        match (self.server_cpu_percent, self.server_cpu_us_per_msg) {
            (Some(c), Some(m)) => writeln!(
                out,
                "  server CPU   {c:.0}% of one core, {m:.2} µs per message"
            )?,
            (Some(c), None) => writeln!(out, "  server CPU   {c:.0}% of one core")?,
            _ => {}
        }
        if let Some(note) = &self.note {
            writeln!(out, "  note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(fmt_us(45.07), "45.1 µs");
        assert_eq!(fmt_us(2100.0), "2.10 ms");
        assert_eq!(fmt_us(3_500_000.0), "3.50 s");
        assert_eq!(fmt_secs(5.0), "5s");
        assert_eq!(fmt_secs(0.5), "0.5s");
        assert_eq!(fmt_size(1024), "1 KiB");
        assert_eq!(fmt_size(20), "20 B");
    }
}
