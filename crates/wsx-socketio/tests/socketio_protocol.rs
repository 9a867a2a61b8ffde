//! The official Socket.IO v5 test suite (`docs/socket.io-protocol/v5-test-suite/test-suite.js`
//! in socketio/socket.io), test by test, against the server it expects (`/socket.io/`,
//! namespaces `/` and `/custom`, each connection sent `auth` with its CONNECT payload, on `/`
//! `message` answered `message-back` and `message-with-ack` acknowledged; pingInterval 300 ms,
//! pingTimeout 200 ms, maxPayload 1e6, connectTimeout 1000 ms), started in-process on
//! 127.0.0.1:0. Then Socket.IO over HTTP long-polling, which the suite does not cover.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod protocol_common;

use protocol_common::eio_checks as eio;
use protocol_common::*;
use serde_json::Value;

/// `initSocketIOConnection()`: a WebSocket session connected to `/` (handshake, `40`, the
/// CONNECT answer and the `auth` event consumed).
async fn init_socketio_connection(t: &Target) -> Ws {
    let mut ws = t.ws("EIO=4&transport=websocket").await;
    ws_handshake(&mut ws).await; // Engine.IO handshake
    send_text(&mut ws, "40").await;
    let connect = next_text(&mut ws).await; // Socket.IO handshake
    assert!(connect.starts_with("40{"), "{connect:?}");
    assert_eq!(next_text(&mut ws).await, r#"42["auth",{}]"#); // "auth" packet
    ws
}

/// `waitForPackets(socket, count)`: the next `count` messages, ignoring `2` (PING; answered
/// here, see [`next_msg`]).
async fn wait_for_packets(ws: &mut Ws, count: usize) -> Vec<Frame> {
    let mut packets = Vec::new();
    while packets.len() < count {
        packets.push(next_msg(ws).await);
    }
    packets
}

/// Parses the CONNECT answer's payload (after `prefix`): exactly `{"sid": <string>}`.
fn connect_sid(data: &str, prefix: &str) -> String {
    assert!(
        data.starts_with(prefix),
        "{data:?} does not start with {prefix:?}"
    );
    let handshake: Value = serde_json::from_str(&data[prefix.len()..]).unwrap();
    let map = handshake.as_object().unwrap();
    assert_eq!(
        map.keys().collect::<Vec<_>>(),
        ["sid"],
        "CONNECT payload {data:?}"
    );
    map["sid"].as_str().expect("sid is a string").to_owned()
}

// ===================================================================================
// describe("Engine.IO protocol")
// ===================================================================================

// ----- handshake / HTTP long-polling -----

// it("should successfully open a session")
#[tokio::test]
async fn eio_handshake_polling_should_successfully_open_a_session() {
    eio::polling_opens_a_session(&sio_suite_server().await).await;
}

// it("should fail with an invalid 'EIO' query parameter")
#[tokio::test]
async fn eio_handshake_polling_should_fail_with_an_invalid_eio_query_parameter() {
    eio::polling_invalid_eio(&sio_suite_server().await).await;
}

// it("should fail with an invalid 'transport' query parameter")
#[tokio::test]
async fn eio_handshake_polling_should_fail_with_an_invalid_transport_query_parameter() {
    eio::polling_invalid_transport(&sio_suite_server().await).await;
}

// it("should fail with an invalid request method")
#[tokio::test]
async fn eio_handshake_polling_should_fail_with_an_invalid_request_method() {
    eio::polling_invalid_method(&sio_suite_server().await).await;
}

// ----- handshake / WebSocket -----

// it("should successfully open a session")
#[tokio::test]
async fn eio_handshake_websocket_should_successfully_open_a_session() {
    eio::ws_opens_a_session(&sio_suite_server().await).await;
}

// it("should fail with an invalid 'EIO' query parameter")
#[tokio::test]
async fn eio_handshake_websocket_should_fail_with_an_invalid_eio_query_parameter() {
    eio::ws_invalid_eio(&sio_suite_server().await).await;
}

// it("should fail with an invalid 'transport' query parameter")
#[tokio::test]
async fn eio_handshake_websocket_should_fail_with_an_invalid_transport_query_parameter() {
    eio::ws_invalid_transport(&sio_suite_server().await).await;
}

// ----- heartbeat -----

/// The server for the ping/pong tests: three rounds take 3 × pingInterval ≈ 900 ms without a
/// CONNECT, which races the suite's 1000 ms connectTimeout (a loaded machine loses: the third
/// GET then gets `2` and `1`). The suite only needs connectTimeout to close a session with no
/// CONNECT within 2 s, which the ping timeout does first anyway; these two tests are about
/// the heartbeat, so they run with a connectTimeout out of the way.
async fn ping_pong_server() -> Target {
    sio_server(std::time::Duration::from_secs(5)).await
}

// describe("HTTP long-polling") it("should send ping/pong packets")
#[tokio::test]
async fn eio_heartbeat_polling_should_send_ping_pong_packets() {
    eio::polling_ping_pong(&ping_pong_server().await).await;
}

// describe("HTTP long-polling") it("should close the session upon ping timeout")
#[tokio::test]
async fn eio_heartbeat_polling_should_close_the_session_upon_ping_timeout() {
    eio::polling_ping_timeout(&sio_suite_server().await).await;
}

// describe("WebSocket") it("should send ping/pong packets")
#[tokio::test]
async fn eio_heartbeat_websocket_should_send_ping_pong_packets() {
    eio::ws_ping_pong(&ping_pong_server().await).await;
}

// describe("WebSocket") it("should close the session upon ping timeout")
#[tokio::test]
async fn eio_heartbeat_websocket_should_close_the_session_upon_ping_timeout() {
    eio::ws_ping_timeout(&sio_suite_server().await).await;
}

// ----- close -----

// describe("HTTP long-polling") it("should forcefully close the session")
#[tokio::test]
async fn eio_close_polling_should_forcefully_close_the_session() {
    eio::polling_forceful_close(&sio_suite_server().await).await;
}

// describe("WebSocket") it("should forcefully close the session")
#[tokio::test]
async fn eio_close_websocket_should_forcefully_close_the_session() {
    eio::ws_forceful_close(&sio_suite_server().await).await;
}

// ----- upgrade -----

// it("should successfully upgrade from HTTP long-polling to WebSocket")
#[tokio::test]
async fn eio_upgrade_should_successfully_upgrade_from_http_long_polling_to_websocket() {
    eio::upgrade(&sio_suite_server().await, false).await;
}

// it("should ignore HTTP requests with same sid after upgrade")
#[tokio::test]
async fn eio_upgrade_should_ignore_http_requests_with_same_sid_after_upgrade() {
    eio::upgrade_then_http(&sio_suite_server().await, false).await;
}

// it("should ignore WebSocket connection with same sid after upgrade")
#[tokio::test]
async fn eio_upgrade_should_ignore_websocket_connection_with_same_sid_after_upgrade() {
    eio::upgrade_then_websocket(&sio_suite_server().await, false).await;
}

// ===================================================================================
// describe("Socket.IO protocol")
// ===================================================================================

// ----- connect -----

/// Connects a WebSocket session, sends `connect`, and checks the CONNECT answer (prefix
/// `expect_prefix`, payload exactly `{"sid"}`) and the `auth` event that follows.
async fn connect_and_expect(connect: &str, expect_prefix: &str, expect_auth: &str) {
    let t = sio_suite_server().await;
    let mut ws = t.ws("EIO=4&transport=websocket").await;
    let open = ws_handshake(&mut ws).await; // Engine.IO handshake
    send_text(&mut ws, connect).await;
    let data = next_text(&mut ws).await;
    let sid = connect_sid(&data, expect_prefix);
    // addition: the socket id is not the Engine.IO session id (v5)
    assert_ne!(Value::from(sid.as_str()), open["sid"]);
    let auth = next_text(&mut ws).await;
    assert_eq!(auth, expect_auth);
}

// it("should allow connection to the main namespace")
#[tokio::test]
async fn sio_connect_should_allow_connection_to_the_main_namespace() {
    connect_and_expect("40", "40", r#"42["auth",{}]"#).await;
}

// it("should allow connection to the main namespace with a payload")
#[tokio::test]
async fn sio_connect_should_allow_connection_to_the_main_namespace_with_a_payload() {
    connect_and_expect(
        r#"40{"token":"123"}"#,
        "40",
        r#"42["auth",{"token":"123"}]"#,
    )
    .await;
}

// it("should allow connection to a custom namespace")
#[tokio::test]
async fn sio_connect_should_allow_connection_to_a_custom_namespace() {
    connect_and_expect("40/custom,", "40/custom,", r#"42/custom,["auth",{}]"#).await;
}

// it("should allow connection to a custom namespace with a payload")
#[tokio::test]
async fn sio_connect_should_allow_connection_to_a_custom_namespace_with_a_payload() {
    connect_and_expect(
        r#"40/custom,{"token":"abc"}"#,
        "40/custom,",
        r#"42/custom,["auth",{"token":"abc"}]"#,
    )
    .await;
}

// it("should disallow connection to an unknown namespace")
#[tokio::test]
async fn sio_connect_should_disallow_connection_to_an_unknown_namespace() {
    let t = sio_suite_server().await;
    let mut ws = t.ws("EIO=4&transport=websocket").await;
    ws_handshake(&mut ws).await;
    send_text(&mut ws, "40/random").await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
    // addition: the Engine.IO session stays usable for other namespaces
    send_text(&mut ws, "40").await;
    connect_sid(&next_text(&mut ws).await, "40");
}

// it("should disallow connection with an invalid handshake")
#[tokio::test]
async fn sio_connect_should_disallow_connection_with_an_invalid_handshake() {
    let t = sio_suite_server().await;
    let mut ws = t.ws("EIO=4&transport=websocket").await;
    let open = ws_handshake(&mut ws).await;
    send_text(&mut ws, "4abc").await;
    let (before, _) = wait_close(&mut ws).await;
    // addition: nothing but (possibly) a ping before the close, and the session is gone
    assert!(before.iter().all(|f| *f == text("2")), "{before:?}");
    t.wait_gone(open["sid"].as_str().unwrap()).await;
}

// it("should close the connection if no handshake is received")
#[tokio::test]
async fn sio_connect_should_close_the_connection_if_no_handshake_is_received() {
    let t = sio_suite_server().await;
    let start = std::time::Instant::now();
    let mut ws = t.ws("EIO=4&transport=websocket").await;
    let (before, _) = wait_close(&mut ws).await;
    // addition: within mocha's 2 s (the ping timeout closes it at ~500 ms, before the
    // 1000 ms connectTimeout), and only the handshake (and pings) came before
    assert!(
        start.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(!before.is_empty());
    let open = parse_open(before[0].text());
    assert!(before[1..].iter().all(|f| *f == text("2")), "{before:?}");
    assert!(!t.has_session(open["sid"].as_str().unwrap()));
}

// ----- disconnect -----

// it("should disconnect from the main namespace")
#[tokio::test]
async fn sio_disconnect_should_disconnect_from_the_main_namespace() {
    let t = sio_suite_server().await;
    let mut ws = init_socketio_connection(&t).await;
    send_text(&mut ws, "41").await;
    // no reply to `41`; the Engine.IO session stays open: the next frame is the ping
    assert_eq!(next_frame(&mut ws).await, text("2"));
}

// it("should connect then disconnect from a custom namespace")
#[tokio::test]
async fn sio_disconnect_should_connect_then_disconnect_from_a_custom_namespace() {
    let t = sio_suite_server().await;
    let mut ws = init_socketio_connection(&t).await;
    assert_eq!(next_frame(&mut ws).await, text("2")); // ping
    // (answered, unlike the suite, so that a stalled machine cannot let the ping timeout end
    // the session during the rest of the test, which is about namespaces)
    send_text(&mut ws, "3").await;
    send_text(&mut ws, "40/custom").await;
    connect_sid(&next_text(&mut ws).await, "40/custom,"); // Socket.IO handshake
    assert_eq!(next_text(&mut ws).await, r#"42/custom,["auth",{}]"#); // auth packet
    send_text(&mut ws, "41/custom").await;
    send_text(&mut ws, r#"42["message","message to main namespace"]"#).await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"42["message-back","message to main namespace"]"#
    );
}

// ----- message -----

// it("should send a plain-text packet")
#[tokio::test]
async fn sio_message_should_send_a_plain_text_packet() {
    let t = sio_suite_server().await;
    let mut ws = init_socketio_connection(&t).await;
    send_text(&mut ws, r#"42["message",1,"2",{"3":[true]}]"#).await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"42["message-back",1,"2",{"3":[true]}]"#
    );
}

// it("should send a packet with binary attachments")
#[tokio::test]
async fn sio_message_should_send_a_packet_with_binary_attachments() {
    let t = sio_suite_server().await;
    let mut ws = init_socketio_connection(&t).await;
    send_text(
        &mut ws,
        r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    )
    .await;
    send_binary(&mut ws, &[1, 2, 3]).await;
    send_binary(&mut ws, &[4, 5, 6]).await;
    let packets = wait_for_packets(&mut ws, 3).await;
    assert_eq!(
        packets,
        [
            text(
                r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
            ),
            Frame::Binary(vec![1, 2, 3]),
            Frame::Binary(vec![4, 5, 6]),
        ]
    );
}

// it("should send a plain-text packet with an ack")
#[tokio::test]
async fn sio_message_should_send_a_plain_text_packet_with_an_ack() {
    let t = sio_suite_server().await;
    let mut ws = init_socketio_connection(&t).await;
    send_text(&mut ws, r#"42456["message-with-ack",1,"2",{"3":[false]}]"#).await;
    assert_eq!(next_text(&mut ws).await, r#"43456[1,"2",{"3":[false]}]"#);
}

// it("should send a packet with binary attachments and an ack")
#[tokio::test]
async fn sio_message_should_send_a_packet_with_binary_attachments_and_an_ack() {
    let t = sio_suite_server().await;
    let mut ws = init_socketio_connection(&t).await;
    send_text(
        &mut ws,
        r#"452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    )
    .await;
    send_binary(&mut ws, &[1, 2, 3]).await;
    send_binary(&mut ws, &[4, 5, 6]).await;
    let packets = wait_for_packets(&mut ws, 3).await;
    assert_eq!(
        packets,
        [
            text(r#"462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#),
            Frame::Binary(vec![1, 2, 3]),
            Frame::Binary(vec![4, 5, 6]),
        ]
    );
}

/// Sends `bad` on a connected socket and expects the connection to close (and, addition, the
/// session to be gone).
async fn expect_parse_error_closes(bad: &str) {
    let t = sio_suite_server().await;
    let mut ws = init_socketio_connection(&t).await;
    send_text(&mut ws, bad).await;
    let (before, _) = wait_close(&mut ws).await;
    assert!(before.iter().all(|f| *f == text("2")), "{before:?}");
    assert_eq!(t.engine.session_count(), 0);
}

// it("should close the connection upon invalid format (unknown packet type)")
#[tokio::test]
async fn sio_message_should_close_the_connection_upon_invalid_format_unknown_packet_type() {
    expect_parse_error_closes("4abc").await;
}

// it("should close the connection upon invalid format (invalid payload format)")
#[tokio::test]
async fn sio_message_should_close_the_connection_upon_invalid_format_invalid_payload_format() {
    expect_parse_error_closes("42{}").await;
}

// it("should close the connection upon invalid format (invalid ack id)")
#[tokio::test]
async fn sio_message_should_close_the_connection_upon_invalid_format_invalid_ack_id() {
    expect_parse_error_closes(r#"42abc["message-with-ack",1,"2",{"3":[false]}]"#).await;
}

// ===================================================================================
// Beyond the official suite: Socket.IO over HTTP long-polling
// ===================================================================================

/// GETs until `count` packets have arrived (however the server splits them over payloads).
async fn poll_packets(t: &Target, sid: &str, count: usize) -> Vec<String> {
    let mut packets = Vec::new();
    while packets.len() < count {
        let poll = t.poll_msgs(sid).await;
        assert_eq!(poll.status, 200);
        packets.extend(poll.text().split('\x1e').map(str::to_owned));
    }
    assert_eq!(packets.len(), count, "{packets:?}");
    packets
}

/// A polling session connected to `/`: returns its sid (the CONNECT answer and `auth` are
/// checked).
async fn polling_connect(t: &Target) -> String {
    let sid = t.open_polling().await;
    let push = t.poll_post(&sid, b"40").await;
    assert_eq!(push.status, 200);
    assert_eq!(push.text(), "ok");
    let packets = poll_packets(t, &sid, 2).await;
    connect_sid(&packets[0], "40");
    assert_eq!(packets[1], r#"42["auth",{}]"#);
    sid
}

/// CONNECT, an event and an ack over polling.
#[tokio::test]
async fn polling_connect_event_and_ack() {
    let t = sio_suite_server().await;
    let sid = polling_connect(&t).await;
    let body = "42[\"message\",1,\"2\",{\"3\":[true]}]\x1e4212[\"message-with-ack\",\"x\"]";
    assert_eq!(t.poll_post(&sid, body.as_bytes()).await.status, 200);
    assert_eq!(
        poll_packets(&t, &sid, 2).await,
        [r#"42["message-back",1,"2",{"3":[true]}]"#, r#"4312["x"]"#]
    );
}

/// Binary attachments over polling, both ways: `b<base64>` packets after the placeholder
/// packet, in the same payload.
#[tokio::test]
async fn polling_binary_attachments_both_ways() {
    let t = sio_suite_server().await;
    let sid = polling_connect(&t).await;
    let body = "452-[\"message\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]\x1ebAQID\x1ebBAUG";
    assert_eq!(t.poll_post(&sid, body.as_bytes()).await.status, 200);
    assert_eq!(
        poll_packets(&t, &sid, 3).await.join("\x1e"),
        "452-[\"message-back\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]\x1ebAQID\x1ebBAUG"
    );
}

/// A socket connected over polling keeps working after the upgrade to WebSocket.
#[tokio::test]
async fn polling_socket_survives_the_upgrade() {
    let t = sio_suite_server().await;
    let sid = polling_connect(&t).await;
    let mut ws = t.ws(&format!("EIO=4&transport=websocket&sid={sid}")).await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(next_frame(&mut ws).await, text("3probe"));
    send_text(&mut ws, "5").await;
    send_text(&mut ws, r#"42["message","after upgrade"]"#).await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"42["message-back","after upgrade"]"#
    );
}

// ===================================================================================
// Beyond the official suite: connectTimeout
// ===================================================================================

/// A session that answers every ping but never sends CONNECT is closed by connectTimeout
/// (the suite's "no handshake" test is always ended by the ping timeout first).
#[tokio::test]
async fn connect_timeout_closes_a_session_without_connect() {
    let lateness = Lateness::start();
    let t = sio_suite_server().await;
    let start = std::time::Instant::now();
    let mut ws = t.ws("EIO=4&transport=websocket").await;
    let open = ws_handshake(&mut ws).await;
    let ended = within("connect timeout", async {
        loop {
            match next_event(&mut ws).await {
                Ok(frame) if frame == text("2") => send_text(&mut ws, "3").await,
                Ok(frame) => panic!("unexpected {frame:?}"),
                Err(end) => return end,
            }
        }
    })
    .await;
    let at = start.elapsed();
    assert!(at >= CONNECT_TIMEOUT, "closed after {at:?}");
    assert!(
        at <= CONNECT_TIMEOUT + lateness.allowance(),
        "closed only after {at:?} (timers late by up to {:?})",
        lateness.worst()
    );
    assert!(matches!(ended, Ended::Close(_)), "{ended:?}");
    assert!(!t.has_session(open["sid"].as_str().unwrap()));
}
