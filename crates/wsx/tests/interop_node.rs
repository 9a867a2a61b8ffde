//! Interop with Node `ws` (interop/node), both directions: the peer as client of a wsx server
//! (`peer_client_*`) and as server for the wsx client (`wsx_client_*`). The peers must be
//! installed by `interop/setup.sh`; without them these tests fail, they never skip.
#![allow(clippy::unwrap_used)]

mod interop_common;

use interop_common::Kind;

const PEER: Kind = Kind::Node;

/// The peer sends text, binary, empty and fragmented messages; wsx echoes them.
#[tokio::test]
async fn peer_client_text_binary_fragmented() {
    interop_common::peer_client_text_binary_fragmented(PEER).await;
}

/// 16 MiB text and binary both ways, compressed and not.
#[tokio::test]
async fn peer_client_large_messages() {
    interop_common::peer_client_large_messages(PEER).await;
}

/// The peer offers each permessage-deflate parameter.
#[tokio::test]
async fn peer_client_compression_offers() {
    interop_common::peer_client_compression_offers(PEER).await;
}

/// Wsx servers configured with each permessage-deflate parameter.
#[tokio::test]
async fn peer_client_compression_server_config() {
    interop_common::peer_client_compression_server_config(PEER).await;
}

/// No compression offered, or refused by wsx.
#[tokio::test]
async fn peer_client_compression_off() {
    interop_common::peer_client_compression_off(PEER).await;
}

/// Close codes and reasons both ways.
#[tokio::test]
async fn peer_client_close_codes() {
    interop_common::peer_client_close_codes(PEER).await;
}

/// Pings both ways.
#[tokio::test]
async fn peer_client_ping_pong() {
    interop_common::peer_client_ping_pong(PEER).await;
}

/// [a, b] offered, b spoken.
#[tokio::test]
async fn peer_client_subprotocol() {
    interop_common::peer_client_subprotocol(PEER).await;
}

/// The peer over TLS to a wsx TLS server.
#[tokio::test]
async fn peer_client_wss() {
    interop_common::peer_client_wss(PEER).await;
}

/// Wsx sends text, binary, empty messages; the peer sends fragmented ones.
#[tokio::test]
async fn wsx_client_text_binary_fragmented() {
    interop_common::wsx_client_text_binary_fragmented(PEER).await;
}

/// 16 MiB text and binary both ways, compressed and not.
#[tokio::test]
async fn wsx_client_large_messages() {
    interop_common::wsx_client_large_messages(PEER).await;
}

/// Wsx offers each permessage-deflate parameter.
#[tokio::test]
async fn wsx_client_compression_offers() {
    interop_common::wsx_client_compression_offers(PEER).await;
}

/// Peer servers configured with each permessage-deflate parameter.
#[tokio::test]
async fn wsx_client_compression_server_config() {
    interop_common::wsx_client_compression_server_config(PEER).await;
}

/// No compression offered, or refused by the peer.
#[tokio::test]
async fn wsx_client_compression_off() {
    interop_common::wsx_client_compression_off(PEER).await;
}

/// Close codes and reasons both ways; a server that closes at once.
#[tokio::test]
async fn wsx_client_close_codes() {
    interop_common::wsx_client_close_codes(PEER).await;
}

/// Pings both ways.
#[tokio::test]
async fn wsx_client_ping_pong() {
    interop_common::wsx_client_ping_pong(PEER).await;
}

/// [a, b] offered, b spoken.
#[tokio::test]
async fn wsx_client_subprotocol() {
    interop_common::wsx_client_subprotocol(PEER).await;
}

/// 301 and 302 followed with max_redirects, refused without.
#[tokio::test]
async fn wsx_client_redirects() {
    interop_common::wsx_client_redirects(PEER).await;
}

/// Wss:// with Trust::ca_file and Trust::Custom.
#[tokio::test]
async fn wsx_client_wss() {
    interop_common::wsx_client_wss(PEER).await;
}

/// Wss → wss followed, wss → ws refused.
#[tokio::test]
async fn wsx_client_wss_redirects() {
    interop_common::wsx_client_wss_redirects(PEER).await;
}
