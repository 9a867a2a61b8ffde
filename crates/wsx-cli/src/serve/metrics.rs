//! Counters for `/metrics`, rendered in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// One metric in the Prometheus text format: its help, its type and its value.
fn write_metric(s: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        s,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// Server-wide counters.
#[derive(Default)]
pub struct Metrics {
    pub open: AtomicI64,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    close_codes: Mutex<BTreeMap<u16, u64>>,
}

impl Metrics {
    pub fn received(&self, bytes: usize) {
        self.messages_in.fetch_add(1, Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Relaxed);
    }

    pub fn sent(&self, messages: usize, bytes: usize) {
        self.messages_out.fetch_add(messages as u64, Relaxed);
        self.bytes_out.fetch_add((messages * bytes) as u64, Relaxed);
    }

    pub fn close_code(&self, code: u16) {
        *self
            .close_codes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(code)
            .or_default() += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            write_metric(&mut s, name, kind, help, value)
        };
        metric(
            "wsx_connections_open",
            "gauge",
            "Open WebSocket connections.",
            self.open.load(Relaxed).to_string(),
        );
        metric(
            "wsx_connections_accepted_total",
            "counter",
            "WebSocket handshakes accepted.",
            self.accepted.load(Relaxed).to_string(),
        );
        metric(
            "wsx_connections_rejected_total",
            "counter",
            "WebSocket handshakes rejected.",
            self.rejected.load(Relaxed).to_string(),
        );
        metric(
            "wsx_messages_received_total",
            "counter",
            "Messages received.",
            self.messages_in.load(Relaxed).to_string(),
        );
        metric(
            "wsx_messages_sent_total",
            "counter",
            "Messages sent (one per receiver).",
            self.messages_out.load(Relaxed).to_string(),
        );
        metric(
            "wsx_bytes_received_total",
            "counter",
            "Payload bytes received.",
            self.bytes_in.load(Relaxed).to_string(),
        );
        metric(
            "wsx_bytes_sent_total",
            "counter",
            "Payload bytes sent.",
            self.bytes_out.load(Relaxed).to_string(),
        );
        let _ = writeln!(
            s,
            "# HELP wsx_close_codes_total Connections closed, by close code (1006: no close frame)."
        );
        let _ = writeln!(s, "# TYPE wsx_close_codes_total counter");
        for (code, n) in self
            .close_codes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(s, "wsx_close_codes_total{{code=\"{code}\"}} {n}");
        }
        s
    }
}

/// The collaborative documents' figures (`/yjs/<room>`).
pub fn render_yjs(yjs: &wsx_yjs::YjsServer) -> String {
    let mut s = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        write_metric(&mut s, name, kind, help, value)
    };
    metric(
        "wsx_yjs_documents_open",
        "gauge",
        "Collaborative documents in memory.",
        yjs.open_rooms() as u64,
    );
    metric(
        "wsx_yjs_documents_encoded",
        "gauge",
        "Collaborative documents held encoded in memory while idle.",
        yjs.encoded_rooms() as u64,
    );
    metric(
        "wsx_yjs_connections_open",
        "gauge",
        "Connections to collaborative documents.",
        yjs.connections() as u64,
    );
    if let Some(j) = yjs.journal_stats() {
        metric(
            "wsx_yjs_updates_stored_total",
            "counter",
            "Document updates appended to the store.",
            j.appends.load(Relaxed),
        );
        metric(
            "wsx_yjs_store_commits_total",
            "counter",
            "Store transactions (group commits).",
            j.commits.load(Relaxed),
        );
        metric(
            "wsx_yjs_compactions_total",
            "counter",
            "Documents compacted into one state in the store.",
            j.compactions.load(Relaxed),
        );
        metric(
            "wsx_yjs_store_failures_total",
            "counter",
            "Store writes that failed (and were retried).",
            j.failures.load(Relaxed),
        );
    }
    s
}

/// The memory budget's figures.
pub fn render_budget(budget: &wsx::MemoryBudget) -> String {
    let mut s = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        write_metric(&mut s, name, kind, help, value)
    };
    metric(
        "wsx_memory_budget_bytes",
        "gauge",
        "The memory budget for what all connections hold.",
        budget.limit() as u64,
    );
    metric(
        "wsx_memory_budget_used_bytes",
        "gauge",
        "What the connections hold now (in 4 KiB granules).",
        budget.used() as u64,
    );
    metric(
        "wsx_memory_budget_peak_bytes",
        "gauge",
        "The most the connections have held at once.",
        budget.peak() as u64,
    );
    metric(
        "wsx_memory_budget_evictions_total",
        "counter",
        "Connections closed to stay within the memory budget.",
        budget.evictions(),
    );
    s
}
