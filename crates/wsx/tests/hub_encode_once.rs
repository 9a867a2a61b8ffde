//! A publish to 10,000 subscribers encodes its frame once and every subscriber receives exactly
//! those bytes. Alone in its test binary, so no other test prepares frames meanwhile.
#![allow(clippy::unwrap_used)]

use futures_util::FutureExt;
use tokio::io::{AsyncReadExt, DuplexStream};
use wsx::{Hub, Message, Options, PreparedFrame, Role, WebSocket};

const SUBSCRIBERS: usize = 10_000;

#[tokio::test]
async fn publish_to_ten_thousand_subscribers_encodes_once() {
    let hub = Hub::new();
    let mut peers: Vec<DuplexStream> = Vec::with_capacity(SUBSCRIBERS);
    for i in 0..SUBSCRIBERS {
        let (server_end, client_end) = tokio::io::duplex(4096);
        let mut ws = WebSocket::from_raw(server_end, Role::Server, None, Options::default());
        let id = hub.add(ws.sender());
        // Half on the topic, a tenth of those also on another one.
        if i % 2 == 0 {
            assert!(hub.subscribe(id, "room"));
        }
        if i % 20 == 0 {
            assert!(hub.subscribe(id, "other"));
        }
        tokio::spawn(async move { while let Some(Ok(_)) = ws.recv().await {} });
        peers.push(client_end);
    }
    assert_eq!(hub.subscribers("room"), SUBSCRIBERS / 2);

    let before = PreparedFrame::encoded_total();
    let report = hub.publish("room", &Message::text("one encode for all"));
    assert_eq!(PreparedFrame::encoded_total() - before, 1);
    assert_eq!(report.queued, SUBSCRIBERS / 2);
    assert_eq!((report.dropped, report.closed), (0, 0));

    let expected = PreparedFrame::new(&Message::text("one encode for all"));
    let expected = expected.as_bytes();
    for (i, peer) in peers.iter_mut().enumerate() {
        if i % 2 != 0 {
            continue;
        }
        let mut got = vec![0u8; expected.len()];
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            peer.read_exact(&mut got),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(&got[..], &expected[..], "subscriber {i}");
    }
    // The others got nothing: their pipes are empty.
    for (i, peer) in peers.iter_mut().enumerate() {
        if i % 2 == 0 {
            continue;
        }
        let mut b = [0u8; 1];
        let r = peer.read(&mut b).now_or_never();
        assert!(r.is_none(), "client {i} is not on the topic but got bytes");
    }
}
