//! A raw Engine.IO v4 client over the wsx client, for tests that drive a `SocketIo` packet by
//! packet: the next text frame, bounded.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use wsx::Message;

/// The next text message (others skipped), within 10 s.
pub async fn next_text(ws: &mut wsx::WebSocket<wsx::MaybeTlsStream>) -> String {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            return t.to_string();
        }
    }
}
