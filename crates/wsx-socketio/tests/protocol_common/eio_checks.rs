//! The Engine.IO tests both official suites run ("handshake", "heartbeat", "close" and
//! "upgrade"; the Socket.IO suite names them "should …" and runs them on `/socket.io/`).
//! Each function is one official test, with the same steps and expectations; lines marked
//! *addition* check more than the suite does. `echo` says whether the endpoint echoes
//! `4hello` (the bare Engine.IO server does, the Socket.IO server does not: its upgrade tests
//! stop after `5`).

use std::time::Instant;

use serde_json::json;
use wsx_socketio::engine::{CloseReason, TransportKind};

use super::*;

/// The `wsx` handshake error of a refused upgrade, with its HTTP status.
fn refused_status(result: wsx::Result<Ws>) -> u16 {
    match result {
        Err(wsx::Error::Handshake(wsx::HandshakeError::UnexpectedStatus { status, .. })) => status,
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("expected the upgrade to be refused, it was accepted"),
    }
}

// ----- handshake / HTTP long-polling -----

/// "successfully opens a session"
pub async fn polling_opens_a_session(t: &Target) {
    let resp = t.get("EIO=4&transport=polling").await;
    assert_eq!(resp.status, 200);
    let text = resp.text();
    let open = parse_open(&text);
    assert_eq!(open["upgrades"], json!(["websocket"]));
    assert_suite_settings(&open);
    // addition: the body is the open packet alone, and the sid is a live polling session
    assert!(!text.contains('\x1e'), "{text:?}");
    let sid = open["sid"].as_str().unwrap();
    assert_eq!(t.session(sid).transport(), TransportKind::Polling);
}

/// "fails with an invalid 'EIO' query parameter"
pub async fn polling_invalid_eio(t: &Target) {
    assert_eq!(t.get("transport=polling").await.status, 400);
    assert_eq!(t.get("EIO=abc&transport=polling").await.status, 400);
    // addition: no session was created
    assert_eq!(t.engine.session_count(), 0);
}

/// "fails with an invalid 'transport' query parameter"
pub async fn polling_invalid_transport(t: &Target) {
    assert_eq!(t.get("EIO=4").await.status, 400);
    assert_eq!(t.get("EIO=4&transport=abc").await.status, 400);
    assert_eq!(t.engine.session_count(), 0);
}

/// "fails with an invalid request method"
pub async fn polling_invalid_method(t: &Target) {
    let target = t.target("EIO=4&transport=polling");
    assert_eq!(http(t.addr, "POST", &target, &[], b"").await.status, 400);
    assert_eq!(http(t.addr, "PUT", &target, &[], b"").await.status, 400);
    assert_eq!(t.engine.session_count(), 0);
}

// ----- handshake / WebSocket -----

/// "successfully opens a session"
pub async fn ws_opens_a_session(t: &Target) {
    let mut ws = t.ws("EIO=4&transport=websocket").await;
    let open = ws_handshake(&mut ws).await;
    assert_eq!(open["upgrades"], json!([]));
    assert_suite_settings(&open);
    // addition: the sid is a live WebSocket session
    let sid = open["sid"].as_str().unwrap();
    assert_eq!(t.session(sid).transport(), TransportKind::WebSocket);
    within("close", ws.close(wsx::CloseCode::NORMAL, ""))
        .await
        .unwrap();
    // addition: closing the WebSocket closes the session
    t.wait_gone(sid).await;
    t.assert_closed_for(sid, CloseReason::TransportClose).await;
}

/// "fails with an invalid 'EIO' query parameter"
pub async fn ws_invalid_eio(t: &Target) {
    // The suite waits for the `close` event; a refused upgrade is one (addition: it is an
    // HTTP 400 answer to the upgrade request).
    assert_eq!(
        refused_status(ws_try_connect(&t.ws_url("transport=websocket")).await),
        400
    );
    assert_eq!(
        refused_status(ws_try_connect(&t.ws_url("EIO=abc&transport=websocket")).await),
        400
    );
    assert_eq!(t.engine.session_count(), 0);
}

/// "fails with an invalid 'transport' query parameter"
pub async fn ws_invalid_transport(t: &Target) {
    assert_eq!(
        refused_status(ws_try_connect(&t.ws_url("EIO=4")).await),
        400
    );
    assert_eq!(
        refused_status(ws_try_connect(&t.ws_url("EIO=4&transport=abc")).await),
        400
    );
    assert_eq!(t.engine.session_count(), 0);
}

// ----- heartbeat -----

/// "sends ping/pong packets" (HTTP long-polling): three rounds of GET `2`, POST `3`.
pub async fn polling_ping_pong(t: &Target) {
    let t0 = Instant::now();
    let sid = t.open_polling().await;
    for i in 0..3 {
        let poll = t.poll_get(&sid).await;
        assert_eq!(poll.status, 200);
        assert_eq!(poll.text(), "2", "round {i}");
        if i == 0 {
            // addition: the first ping comes pingInterval after the handshake, not at once
            // (guaranteed: the session did not exist before t0)
            assert!(
                t0.elapsed() >= PING_INTERVAL,
                "first ping after {:?}",
                t0.elapsed()
            );
        }
        let push = t.poll_post(&sid, b"3").await;
        assert_eq!(push.status, 200);
        assert_eq!(push.text(), "ok");
    }
    // addition: three rounds took longer than one ping timeout, the pongs kept it alive
    assert!(t.has_session(&sid));
}

/// "closes the session upon ping timeout" (HTTP long-polling).
pub async fn polling_ping_timeout(t: &Target) {
    let lateness = Lateness::start();
    let t0 = Instant::now();
    let sid = t.open_polling().await;
    // The suite polls right at pingInterval + pingTimeout; here the session is watched from
    // the handshake on until it is gone, which must be by then, give or take SLACK (more if
    // the machine is stalling) for the server's timers to run, and not before (below).
    let gone = t.wait_gone(&sid).await;
    let after = gone - t0;
    assert!(
        after <= PING_INTERVAL + PING_TIMEOUT + lateness.allowance(),
        "session closed only {after:?} after the handshake (timers late by up to {:?})",
        lateness.worst()
    );
    assert_eq!(t.poll_get(&sid).await.status, 400);
    t.assert_closed_for(&sid, CloseReason::PingTimeout).await;
    if let Some(log) = &t.log {
        // addition: not closed before the deadline (the session did not exist before t0)
        let (_, at) = log.closed(&sid).unwrap();
        assert!(
            at - t0 >= PING_INTERVAL + PING_TIMEOUT,
            "closed after {:?}",
            at - t0
        );
    }
}

/// "sends ping/pong packets" (WebSocket).
pub async fn ws_ping_pong(t: &Target) {
    let lateness = Lateness::start();
    let t0 = Instant::now();
    let mut ws = t.ws("EIO=4&transport=websocket").await;
    let open = ws_handshake(&mut ws).await;
    for i in 0..3 {
        assert_eq!(next_frame(&mut ws).await, text("2"), "round {i}");
        if i == 0 {
            // addition: the first ping comes pingInterval after the handshake: not before
            // (measured from before the connection, so this holds however slow the machine),
            // and not much later
            let at = t0.elapsed();
            assert!(at >= PING_INTERVAL, "first ping after {at:?}");
            assert!(
                at <= PING_INTERVAL + lateness.allowance(),
                "first ping only after {at:?} (timers late by up to {:?})",
                lateness.worst()
            );
        }
        send_text(&mut ws, "3").await;
    }
    assert!(t.has_session(open["sid"].as_str().unwrap()));
    let _ = ws.close(wsx::CloseCode::NORMAL, "").await;
}

/// "closes the session upon ping timeout" (WebSocket).
pub async fn ws_ping_timeout(t: &Target) {
    let lateness = Lateness::start();
    let t0 = Instant::now();
    let mut ws = t.ws("EIO=4&transport=websocket").await;
    let (before, end) = wait_close(&mut ws).await;
    let at = t0.elapsed();
    // addition: what came before the close is the handshake and exactly one ping, and the close
    // came at pingInterval + pingTimeout (within the allowance)
    assert_eq!(before.len(), 2, "{before:?}");
    let open = parse_open(before[0].text());
    assert_eq!(before[1], text("2"));
    assert!(
        at >= PING_INTERVAL + PING_TIMEOUT,
        "closed after only {at:?}"
    );
    assert!(
        at <= PING_INTERVAL + PING_TIMEOUT + lateness.allowance(),
        "closed only after {at:?} (timers late by up to {:?})",
        lateness.worst()
    );
    assert!(matches!(end, Ended::Close(_)), "{end:?}");
    let sid = open["sid"].as_str().unwrap();
    assert!(!t.has_session(sid));
    t.assert_closed_for(sid, CloseReason::PingTimeout).await;
}

// ----- close -----

/// "forcefully closes the session" (HTTP long-polling): a pending GET completed with `6`,
/// then the sid is dead.
pub async fn polling_forceful_close(t: &Target) {
    let sid = t.open_polling().await;
    let (poll, push) = tokio::join!(t.poll_msgs(&sid), t.poll_post(&sid, b"1"));
    assert_eq!(poll.status, 200);
    assert_eq!(poll.text(), "6");
    // addition: the POST itself succeeded
    assert_eq!(push.status, 200);
    assert_eq!(t.poll_get(&sid).await.status, 400);
    t.assert_closed_for(&sid, CloseReason::TransportClose).await;
}

/// "forcefully closes the session" (WebSocket): `1` ends the connection.
pub async fn ws_forceful_close(t: &Target) {
    let mut ws = t.ws("EIO=4&transport=websocket").await;
    let open = ws_handshake(&mut ws).await;
    send_text(&mut ws, "1").await;
    let (_, end) = wait_close(&mut ws).await;
    // addition: the server closes the connection (with a close frame) and the session
    assert!(matches!(end, Ended::Close(_)), "{end:?}");
    let sid = open["sid"].as_str().unwrap();
    t.wait_gone(sid).await;
    t.assert_closed_for(sid, CloseReason::TransportClose).await;
}

// ----- upgrade -----

/// Opens a WebSocket on polling session `sid` and does the probe (`2probe` → `3probe`).
pub async fn probe(t: &Target, sid: &str) -> Ws {
    let mut ws = t.ws(&format!("EIO=4&transport=websocket&sid={sid}")).await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(next_frame(&mut ws).await, text("3probe"));
    ws
}

/// "successfully upgrades from HTTP long-polling to WebSocket"
pub async fn upgrade(t: &Target, echo: bool) {
    let sid = t.open_polling().await;
    let mut ws = probe(t, &sid).await;
    if echo {
        // "noop" packet to cleanly end the HTTP long-polling request (only the Engine.IO suite
        // checks it; the Socket.IO suite goes straight to `5`)
        let poll = t.poll_msgs(&sid).await;
        assert_eq!(poll.status, 200);
        assert_eq!(poll.text(), "6");
    }
    // complete upgrade
    send_text(&mut ws, "5").await;
    // addition: the session moved to the WebSocket
    t.wait_upgraded(&sid).await;
    if echo {
        send_text(&mut ws, "4hello").await;
        assert_eq!(next_msg(&mut ws).await, text("4hello"));
    }
}

/// "ignores HTTP requests with same sid after upgrade"
pub async fn upgrade_then_http(t: &Target, echo: bool) {
    let sid = t.open_polling().await;
    let mut ws = probe(t, &sid).await;
    send_text(&mut ws, "5").await;
    // The suite sends the GET right after `5`; wait (bounded) until the server has read the
    // `5`, so the GET is certainly "after upgrade".
    t.wait_upgraded(&sid).await;
    assert_eq!(t.poll_get(&sid).await.status, 400);
    // addition: POSTs too
    assert_eq!(t.poll_post(&sid, b"4x").await.status, 400);
    if echo {
        send_text(&mut ws, "4hello").await;
        assert_eq!(next_msg(&mut ws).await, text("4hello"));
    }
    assert!(t.has_session(&sid));
}

/// "ignores WebSocket connection with same sid after upgrade"
pub async fn upgrade_then_websocket(t: &Target, echo: bool) {
    let sid = t.open_polling().await;
    let mut ws = probe(t, &sid).await;
    send_text(&mut ws, "5").await;
    t.wait_upgraded(&sid).await;
    let query = format!("EIO=4&transport=websocket&sid={sid}");
    // the suite waits for `close`: either a refused upgrade or an accepted-then-closed socket
    if let Ok(mut ws2) = ws_try_connect(&t.ws_url(&query)).await {
        let (before, _) = wait_close(&mut ws2).await;
        // addition: nothing is sent on the second socket (no handshake, no probe answer)
        assert!(before.is_empty(), "{before:?}");
    }
    if echo {
        send_text(&mut ws, "4hello").await;
        assert_eq!(next_msg(&mut ws).await, text("4hello"));
    }
    // addition: the session still lives on the first WebSocket
    assert_eq!(t.session(&sid).transport(), TransportKind::WebSocket);
}
