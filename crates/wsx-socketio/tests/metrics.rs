//! Engine.IO sessions by transport through the `metrics` facade, read back through a real
//! exporter (metrics-exporter-prometheus): a session opened on polling and upgraded, one closed
//! by its client. One test: the recorder is per process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod protocol_common;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use protocol_common::eio_checks as eio;
use protocol_common::*;

/// The value of `series` (name and labels as rendered), 0 if absent.
fn value(handle: &PrometheusHandle, series: &str) -> f64 {
    handle
        .render()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, v) = l.rsplit_once(' ')?;
            (name == series).then(|| v.parse().unwrap())
        })
        .unwrap_or(0.0)
}

#[tokio::test]
async fn engineio_sessions_are_counted_by_transport() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();
    let v = |s: &str| value(&handle, s);
    let t = eio_suite_server().await;

    // Opened on polling, upgraded: now on WebSocket.
    eio::upgrade(&t, true).await;
    assert_eq!(
        v("wsx_engineio_sessions_opened_total{transport=\"polling\"}"),
        1.0
    );
    assert_eq!(v("wsx_engineio_upgrades_total"), 1.0);
    assert_eq!(
        v("wsx_engineio_sessions_open{transport=\"websocket\"}"),
        1.0
    );
    assert_eq!(v("wsx_engineio_sessions_open{transport=\"polling\"}"), 0.0);
    // The upgrade's WebSocket is one of wsx's server connections.
    assert_eq!(v("wsx_connections_open"), 1.0);

    // The check drops its WebSocket without a word: the session goes with it.
    wait_until("the upgraded session closed", || {
        v("wsx_engineio_sessions_open{transport=\"websocket\"}") == 0.0
    })
    .await;
    let closed = |v: &dyn Fn(&str) -> f64| {
        v("wsx_engineio_sessions_closed_total{reason=\"transport_close\"}")
            + v("wsx_engineio_sessions_closed_total{reason=\"transport_error\"}")
    };
    assert_eq!(closed(&v), 1.0);

    // Opened on polling and closed by the client.
    eio::polling_forceful_close(&t).await;
    assert_eq!(
        v("wsx_engineio_sessions_opened_total{transport=\"polling\"}"),
        2.0
    );
    assert_eq!(closed(&v), 2.0);
    assert_eq!(v("wsx_engineio_sessions_open{transport=\"polling\"}"), 0.0);

    // Opened on WebSocket directly, closed by the client.
    eio::ws_forceful_close(&t).await;
    assert_eq!(
        v("wsx_engineio_sessions_opened_total{transport=\"websocket\"}"),
        1.0
    );
    assert_eq!(closed(&v), 3.0);
    assert_eq!(
        v("wsx_engineio_sessions_open{transport=\"websocket\"}"),
        0.0
    );
    assert_eq!(v("wsx_engineio_sessions_open{transport=\"polling\"}"), 0.0);
}
