//! `/metrics`: what the libraries record through the `metrics` facade (wsx's connections,
//! Engine.IO's sessions, wsx-redis' traffic), the chat's own counters, and, read at each
//! scrape, the Yjs documents, the memory budget and the process (metrics-process); rendered in
//! the Prometheus text format by metrics-exporter-prometheus, with no listener of its own.

use metrics::{Counter, counter, describe_counter, describe_gauge, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The buckets of `wsx_handshake_duration_seconds`: 250 µs to 10 s.
const HANDSHAKE_BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's recorder, installed once, and its renderer.
pub struct Exporter {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

impl Exporter {
    /// Installs the Prometheus recorder as the process's `metrics` recorder: before any
    /// connection, since the libraries register their handles at the first one.
    pub fn install() -> Result<Exporter, String> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("wsx_handshake_duration_seconds".into()),
                HANDSHAKE_BUCKETS,
            )
            .map_err(|e| e.to_string())?
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
        let process = metrics_process::Collector::default();
        process.describe();
        describe_gauge!("wsx_build_info", "The wsx build: version, target.");
        gauge!(
            "wsx_build_info",
            "version" => env!("CARGO_PKG_VERSION"),
            "arch" => std::env::consts::ARCH,
            "os" => std::env::consts::OS,
        )
        .set(1.0);
        Ok(Exporter { handle, process })
    }

    /// The value of an unlabelled series, as a scrape would read it.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.handle.render().lines().find_map(|l| {
            let v = l.strip_prefix(name)?.strip_prefix(' ')?;
            v.parse().ok()
        })
    }

    /// The text exposition, after `collect` has recorded what is read at scrape time.
    pub fn render(&self, collect: impl FnOnce()) -> String {
        self.process.collect();
        collect();
        self.handle.render()
    }
}

/// The chat's counters (both transports): messages from members and chat messages to them.
pub struct Metrics {
    received: Counter,
    received_bytes: Counter,
    sent: Counter,
    sent_bytes: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        describe_counter!(
            "wsx_chat_messages_received_total",
            "Chat messages received from members (WebSocket and Socket.IO)."
        );
        describe_counter!(
            "wsx_chat_received_bytes_total",
            metrics::Unit::Bytes,
            "Bytes of the chat messages received."
        );
        describe_counter!(
            "wsx_chat_messages_sent_total",
            "Chat messages sent to members (one per receiver)."
        );
        describe_counter!(
            "wsx_chat_sent_bytes_total",
            metrics::Unit::Bytes,
            "Bytes of the chat messages sent (one copy per receiver)."
        );
        Metrics {
            received: counter!("wsx_chat_messages_received_total"),
            received_bytes: counter!("wsx_chat_received_bytes_total"),
            sent: counter!("wsx_chat_messages_sent_total"),
            sent_bytes: counter!("wsx_chat_sent_bytes_total"),
        }
    }
}

impl Metrics {
    pub fn received(&self, bytes: usize) {
        self.received.increment(1);
        self.received_bytes.increment(bytes as u64);
    }

    pub fn sent(&self, messages: usize, bytes: usize) {
        self.sent.increment(messages as u64);
        self.sent_bytes.increment((messages * bytes) as u64);
    }
}

/// The collaborative documents' figures (`/yjs/<room>`), read at scrape time.
pub fn record_yjs(yjs: &wsx_yjs::YjsServer) {
    use std::sync::atomic::Ordering::Relaxed;
    describe_gauge!(
        "wsx_yjs_documents_open",
        "Collaborative documents in memory."
    );
    describe_gauge!(
        "wsx_yjs_documents_encoded",
        "Collaborative documents held encoded in memory while idle."
    );
    describe_gauge!(
        "wsx_yjs_connections_open",
        "Connections to collaborative documents."
    );
    gauge!("wsx_yjs_documents_open").set(yjs.open_rooms() as f64);
    gauge!("wsx_yjs_documents_encoded").set(yjs.encoded_rooms() as f64);
    gauge!("wsx_yjs_connections_open").set(yjs.connections() as f64);
    if let Some(j) = yjs.journal_stats() {
        describe_counter!(
            "wsx_yjs_updates_stored_total",
            "Document updates appended to the store."
        );
        describe_counter!(
            "wsx_yjs_store_commits_total",
            "Store transactions (group commits)."
        );
        describe_counter!(
            "wsx_yjs_compactions_total",
            "Documents compacted into one state in the store."
        );
        describe_counter!(
            "wsx_yjs_store_failures_total",
            "Store writes that failed (and were retried)."
        );
        counter!("wsx_yjs_updates_stored_total").absolute(j.appends.load(Relaxed));
        counter!("wsx_yjs_store_commits_total").absolute(j.commits.load(Relaxed));
        counter!("wsx_yjs_compactions_total").absolute(j.compactions.load(Relaxed));
        counter!("wsx_yjs_store_failures_total").absolute(j.failures.load(Relaxed));
    }
}

/// The memory budget's figures, read at scrape time.
pub fn record_budget(budget: &wsx::MemoryBudget) {
    describe_gauge!(
        "wsx_memory_budget_bytes",
        metrics::Unit::Bytes,
        "The memory budget for what all connections hold."
    );
    describe_gauge!(
        "wsx_memory_budget_used_bytes",
        metrics::Unit::Bytes,
        "What the connections hold now (in 4 KiB granules)."
    );
    describe_gauge!(
        "wsx_memory_budget_peak_bytes",
        metrics::Unit::Bytes,
        "The most the connections have held at once."
    );
    describe_counter!(
        "wsx_memory_budget_evictions_total",
        "Connections closed to stay within the memory budget."
    );
    gauge!("wsx_memory_budget_bytes").set(budget.limit() as f64);
    gauge!("wsx_memory_budget_used_bytes").set(budget.used() as f64);
    gauge!("wsx_memory_budget_peak_bytes").set(budget.peak() as f64);
    counter!("wsx_memory_budget_evictions_total").absolute(budget.evictions());
}
