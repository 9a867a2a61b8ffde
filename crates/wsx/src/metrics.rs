//! Server metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`):
//! the library records, the application picks the exporter (Prometheus, StatsD, OpenTelemetry…)
//! by installing a recorder. Without the feature every call here is empty.
//!
//! Names follow Prometheus' conventions (base units, the unit before `_total`):
//!
//! | name | kind | labels | |
//! |---|---|---|---|
//! | `wsx_connections_open` | gauge | | server connections open now |
//! | `wsx_connections_accepted_total` | counter | | handshakes answered `101` (or `200`) |
//! | `wsx_connections_http2_total` | counter | | of those, WebSockets on an HTTP/2 stream (RFC 8441) |
//! | `wsx_connections_rejected_total` | counter | `reason` | handshakes refused: `not_found`, `handshake`, `origin`, `verify`, `timeout`, `max_connections`, `tls` |
//! | `wsx_connections_closed_total` | counter | `code` | connections ended, by the peer's close code, the code we failed it with, or 1006 (no close frame) |
//! | `wsx_handshake_duration_seconds` | histogram | | from the accepted TCP connection (or the upgrade request) to the `101` written |
//! | `wsx_messages_received_total` | counter | | data messages received |
//! | `wsx_messages_sent_total` | counter | | messages queued to send (one per receiver of a broadcast) |
//! | `wsx_received_bytes_total` | counter | | bytes read from the connections (frames as on the wire) |
//! | `wsx_sent_bytes_total` | counter | | bytes written to the connections |
//! | `wsx_send_queue_bytes` | gauge | | bytes queued that the sockets have not taken yet |
//! | `wsx_slow_consumer_dropped_messages_total` | counter | | messages dropped by [`SlowConsumer::Drop`](crate::SlowConsumer::Drop) |
//! | `wsx_slow_consumer_closes_total` | counter | | connections closed by [`SlowConsumer::Close`](crate::SlowConsumer::Close) |
//!
//! Handles are registered once per process, when the first `Acceptor` (or `Server`) is built
//! or at the first connection: install the recorder before that.

use std::time::Duration;

/// Why a handshake was refused (the `reason` label of `wsx_connections_rejected_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    NotFound,
    Handshake,
    Origin,
    Verify,
    Timeout,
    MaxConnections,
    Tls,
}

impl Reject {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    const ALL: [Reject; 7] = [
        Reject::NotFound,
        Reject::Handshake,
        Reject::Origin,
        Reject::Verify,
        Reject::Timeout,
        Reject::MaxConnections,
        Reject::Tls,
    ];

    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn label(self) -> &'static str {
        match self {
            Reject::NotFound => "not_found",
            Reject::Handshake => "handshake",
            Reject::Origin => "origin",
            Reject::Verify => "verify",
            Reject::Timeout => "timeout",
            Reject::MaxConnections => "max_connections",
            Reject::Tls => "tls",
        }
    }
}

#[cfg(feature = "metrics")]
mod on {
    use std::sync::OnceLock;

    use metrics::{Counter, Gauge, Histogram, Unit};

    use super::Reject;

    pub(super) struct Handles {
        pub open: Gauge,
        pub accepted: Counter,
        pub http2: Counter,
        pub rejected: [Counter; Reject::ALL.len()],
        pub handshake: Histogram,
        pub messages_in: Counter,
        pub messages_out: Counter,
        pub bytes_in: Counter,
        pub bytes_out: Counter,
        pub send_queue: Gauge,
        pub slow_drops: Counter,
        pub slow_closes: Counter,
    }

    pub(super) fn handles() -> &'static Handles {
        static H: OnceLock<Handles> = OnceLock::new();
        H.get_or_init(|| {
            describe();
            Handles {
                open: metrics::gauge!("wsx_connections_open"),
                accepted: metrics::counter!("wsx_connections_accepted_total"),
                http2: metrics::counter!("wsx_connections_http2_total"),
                rejected: Reject::ALL.map(
                    |r| metrics::counter!("wsx_connections_rejected_total", "reason" => r.label()),
                ),
                handshake: metrics::histogram!("wsx_handshake_duration_seconds"),
                messages_in: metrics::counter!("wsx_messages_received_total"),
                messages_out: metrics::counter!("wsx_messages_sent_total"),
                bytes_in: metrics::counter!("wsx_received_bytes_total"),
                bytes_out: metrics::counter!("wsx_sent_bytes_total"),
                send_queue: metrics::gauge!("wsx_send_queue_bytes"),
                slow_drops: metrics::counter!("wsx_slow_consumer_dropped_messages_total"),
                slow_closes: metrics::counter!("wsx_slow_consumer_closes_total"),
            }
        })
    }

    fn describe() {
        use metrics::{describe_counter, describe_gauge, describe_histogram};
        describe_gauge!("wsx_connections_open", "Server WebSocket connections open.");
        describe_counter!(
            "wsx_connections_accepted_total",
            "WebSocket handshakes accepted."
        );
        describe_counter!(
            "wsx_connections_http2_total",
            "WebSocket connections accepted on an HTTP/2 stream (RFC 8441 extended CONNECT)."
        );
        describe_counter!(
            "wsx_connections_rejected_total",
            "WebSocket handshakes refused, by reason."
        );
        describe_counter!(
            "wsx_connections_closed_total",
            "Connections ended, by close code (the peer's, ours when we failed it, 1006 without a close frame)."
        );
        describe_histogram!(
            "wsx_handshake_duration_seconds",
            Unit::Seconds,
            "Time from the accepted connection or upgrade request to the 101 response written."
        );
        describe_counter!("wsx_messages_received_total", "Data messages received.");
        describe_counter!(
            "wsx_messages_sent_total",
            "Messages queued to send (one per receiver)."
        );
        describe_counter!(
            "wsx_received_bytes_total",
            Unit::Bytes,
            "Bytes read from WebSocket connections (frames as on the wire)."
        );
        describe_counter!(
            "wsx_sent_bytes_total",
            Unit::Bytes,
            "Bytes written to WebSocket connections."
        );
        describe_gauge!(
            "wsx_send_queue_bytes",
            Unit::Bytes,
            "Bytes queued that the sockets have not taken yet."
        );
        describe_counter!(
            "wsx_slow_consumer_dropped_messages_total",
            "Messages dropped because the receiver's send queue was full."
        );
        describe_counter!(
            "wsx_slow_consumer_closes_total",
            "Connections closed because their send queue was full."
        );
    }
}

/// Registers (and describes) the series now, so that they show, at zero, before the first
/// connection: done by [`Acceptor::new`](crate::Acceptor::new).
#[inline]
pub(crate) fn register() {
    #[cfg(feature = "metrics")]
    on::handles();
}

/// A server connection opened (its handshake accepted).
#[inline]
pub(crate) fn opened() {
    #[cfg(feature = "metrics")]
    {
        let h = on::handles();
        h.accepted.increment(1);
        h.open.increment(1.0);
    }
}

/// A server connection ended with `code` (once per connection).
#[inline]
pub(crate) fn closed(code: u16) {
    #[cfg(feature = "metrics")]
    metrics::counter!("wsx_connections_closed_total", "code" => code.to_string()).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = code;
}

/// A server connection ended, with `backlog` bytes still counted in the send-queue gauge.
#[cfg(feature = "metrics")]
pub(crate) fn ended(backlog: u32) {
    let h = on::handles();
    h.open.decrement(1.0);
    if backlog > 0 {
        h.send_queue.decrement(f64::from(backlog));
    }
}

/// A WebSocket accepted on an HTTP/2 stream.
#[cfg(any(feature = "hyper", feature = "http2"))]
#[inline]
pub(crate) fn http2_accepted() {
    #[cfg(feature = "metrics")]
    on::handles().http2.increment(1);
}

/// A handshake refused.
#[inline]
pub(crate) fn rejected(why: Reject) {
    #[cfg(feature = "metrics")]
    on::handles().rejected[why as usize].increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = why;
}

/// How long a handshake that succeeded took.
#[inline]
pub(crate) fn handshake_took(d: Duration) {
    #[cfg(feature = "metrics")]
    on::handles().handshake.record(d.as_secs_f64());
    #[cfg(not(feature = "metrics"))]
    let _ = d;
}

/// A data message received.
#[inline]
pub(crate) fn message_received() {
    #[cfg(feature = "metrics")]
    on::handles().messages_in.increment(1);
}

/// A message queued.
#[inline]
pub(crate) fn message_sent() {
    #[cfg(feature = "metrics")]
    on::handles().messages_out.increment(1);
}

/// Bytes read from a connection.
#[inline]
pub(crate) fn bytes_read(n: usize) {
    #[cfg(feature = "metrics")]
    on::handles().bytes_in.increment(n as u64);
    #[cfg(not(feature = "metrics"))]
    let _ = n;
}

/// Bytes written to a connection.
#[inline]
pub(crate) fn bytes_written(n: usize) {
    #[cfg(feature = "metrics")]
    on::handles().bytes_out.increment(n as u64);
    #[cfg(not(feature = "metrics"))]
    let _ = n;
}

/// A connection's unwritten backlog went from `before` to `now` bytes.
#[cfg(feature = "metrics")]
#[inline]
pub(crate) fn backlog(before: u32, now: u32) {
    if before != now {
        on::handles()
            .send_queue
            .increment(f64::from(now) - f64::from(before));
    }
}

/// A message dropped by the slow-consumer policy.
#[inline]
pub(crate) fn slow_consumer_dropped() {
    #[cfg(feature = "metrics")]
    on::handles().slow_drops.increment(1);
}

/// A connection closed by the slow-consumer policy.
#[inline]
pub(crate) fn slow_consumer_closed() {
    #[cfg(feature = "metrics")]
    on::handles().slow_closes.increment(1);
}
