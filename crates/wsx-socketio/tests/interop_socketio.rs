//! Interop with the official `socket.io-client` (npm, 4.8.x) in Node: every scenario of
//! `sio_interop/scenarios.rs` against a wsx `SocketIo` server started in-process on
//! 127.0.0.1:0. The client is driven by `interop/node/sio_client.js`, installed by
//! `interop/setup.sh`; without it these tests fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sio_interop;

use sio_interop::Kind::Node;
use sio_interop::scenarios as s;

macro_rules! node_tests {
    ($($name:ident => $scenario:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $scenario.await
        }
    )*};
}

node_tests! {
    polling_only => s::single_transport(Node, "polling");
    websocket_only => s::single_transport(Node, "websocket");
    polling_upgrades_to_websocket_without_losing_or_duplicating => s::upgrade_without_loss(Node);
    rooms_to_and_except_reach_exactly_their_members => s::rooms(Node);
    client_ack_callbacks_are_answered_by_id => s::client_acks(Node);
    server_emit_with_ack_is_answered_or_fails_on_disconnect => s::server_acks(Node);
    ack_timeouts_on_both_sides => s::ack_timeouts(Node);
    broadcast_with_acks_gathers_every_answer => s::broadcast_acks(Node);
    binary_both_ways_over_websocket => s::binary(Node, "websocket");
    binary_both_ways_over_polling => s::binary(Node, "polling");
    middleware_refusal_is_a_connect_error_with_data => s::middleware(Node);
    unknown_and_dynamic_namespaces => s::namespaces_unknown_and_dynamic(Node);
    server_disconnect_is_not_retried => s::server_disconnect(Node);
    namespaces_multiplex_on_one_session => s::multiplexing(Node);
    max_payload_over_websocket => s::large_payload(Node, "websocket");
    max_payload_over_polling => s::large_payload(Node, "polling");
    auth_and_query_reach_the_server => s::auth_and_query(Node);
    heartbeat_keeps_idle_sessions_up => s::heartbeat(Node);
    server_close_then_clients_reconnect => s::server_close_and_reconnect(Node);
    streams_both_ways_over_polling => s::streams_both_ways(Node, "polling");
    streams_both_ways_over_websocket => s::streams_both_ways(Node, "websocket");
    reconnect_with_state_recovery_over_websocket => s::recovery(Node, "websocket");
    reconnect_with_state_recovery_over_polling => s::recovery(Node, "polling");
}
