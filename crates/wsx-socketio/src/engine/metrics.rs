//! Engine.IO sessions through the `metrics` facade (feature `metrics`):
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `wsx_engineio_sessions_open` | gauge | `transport` (`polling`, `websocket`): the transport each uses now |
//! | `wsx_engineio_sessions_opened_total` | counter | `transport`: the one it opened on |
//! | `wsx_engineio_upgrades_total` | counter | sessions moved from polling to WebSocket |
//! | `wsx_engineio_sessions_closed_total` | counter | `reason` (Node's reason, `_` for spaces) |
//!
//! Without the feature the calls are empty. Transports and reasons come as their names
//! (`TransportKind::as_str`, `CloseReason::as_str`).

#[cfg(feature = "metrics")]
fn describe() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        metrics::describe_gauge!(
            "wsx_engineio_sessions_open",
            "Engine.IO sessions open, by the transport they use now."
        );
        metrics::describe_counter!(
            "wsx_engineio_sessions_opened_total",
            "Engine.IO sessions opened, by the transport they opened on."
        );
        metrics::describe_counter!(
            "wsx_engineio_upgrades_total",
            "Engine.IO sessions upgraded from long-polling to WebSocket."
        );
        metrics::describe_counter!(
            "wsx_engineio_sessions_closed_total",
            "Engine.IO sessions closed, by reason."
        );
    });
}

/// A session opened on `transport`.
pub(crate) fn opened(transport: &'static str) {
    #[cfg(feature = "metrics")]
    {
        describe();
        metrics::counter!("wsx_engineio_sessions_opened_total", "transport" => transport)
            .increment(1);
        metrics::gauge!("wsx_engineio_sessions_open", "transport" => transport).increment(1.0);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = transport;
}

/// A session moved from polling to WebSocket.
pub(crate) fn upgraded() {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("wsx_engineio_upgrades_total").increment(1);
        metrics::gauge!("wsx_engineio_sessions_open", "transport" => "polling").decrement(1.0);
        metrics::gauge!("wsx_engineio_sessions_open", "transport" => "websocket").increment(1.0);
    }
}

/// A session on `transport` closed for `reason`.
pub(crate) fn closed(transport: &'static str, reason: &'static str) {
    #[cfg(feature = "metrics")]
    {
        let reason = reason.replace(' ', "_");
        metrics::counter!("wsx_engineio_sessions_closed_total", "reason" => reason).increment(1);
        metrics::gauge!("wsx_engineio_sessions_open", "transport" => transport).decrement(1.0);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (transport, reason);
}
