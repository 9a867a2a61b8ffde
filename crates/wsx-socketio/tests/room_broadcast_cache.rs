//! Room broadcasts to a kept list of receivers (the namespace caches a big room's members
//! while membership does not change): every change of membership between broadcasts is seen
//! by the next one, `except` still applies, polling members still get theirs, a disconnected
//! member gets nothing and nobody else is disturbed, and every receiver gets every message
//! once and in order. Real WebSocket clients on 127.0.0.1, and a long-polling one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wsx::Message;
use wsx_socketio::{Config, Socket, SocketIo};

/// Over the size from which the namespace keeps a room's list (32).
const MEMBERS: usize = 40;

struct Ws {
    ws: wsx::WebSocket<wsx::MaybeTlsStream>,
    sid: String,
}

impl Ws {
    async fn connect(addr: std::net::SocketAddr) -> Ws {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (mut ws, _) = wsx::connect(&url).await.unwrap();
        let open = next_text(&mut ws).await;
        assert!(open.starts_with("0{"), "{open}");
        ws.send(Message::text("40")).await.unwrap();
        let ack = next_text(&mut ws).await;
        let sid = ack
            .strip_prefix("40{\"sid\":\"")
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("not a CONNECT answer: {ack}"))
            .to_owned();
        Ws { ws, sid }
    }

    /// The next `m` event's number.
    async fn next_m(&mut self) -> i64 {
        let t = next_text(&mut self.ws).await;
        let n = t
            .strip_prefix("42[\"m\",")
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or_else(|| panic!("not an m event: {t}"));
        n.parse().unwrap()
    }
}

async fn next_text(ws: &mut wsx::WebSocket<wsx::MaybeTlsStream>) -> String {
    match tokio::time::timeout(Duration::from_secs(5), ws.recv()).await {
        Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// A long-polling client, its requests handed to the server in process.
struct Polling {
    io: SocketIo,
    sid: String,
}

async fn request(io: &SocketIo, method: &str, uri: &str, body: &str) -> String {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(5), io.handle(req))
        .await
        .expect("a request answered");
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

impl Polling {
    async fn connect(io: &SocketIo) -> Polling {
        let open = request(io, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
        let sid = open
            .strip_prefix("0{\"sid\":\"")
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_owned();
        let p = Polling {
            io: io.clone(),
            sid,
        };
        request(io, "POST", &p.uri(), "40").await;
        let ack = p.poll().await;
        assert!(ack[0].starts_with("40{"), "{ack:?}");
        p
    }

    fn uri(&self) -> String {
        format!("/socket.io/?EIO=4&transport=polling&sid={}", self.sid)
    }

    async fn poll(&self) -> Vec<String> {
        let body = request(&self.io, "GET", &self.uri(), "").await;
        body.split('\x1e').map(str::to_owned).collect()
    }

    /// The `m` numbers of the packets the next GET returns.
    async fn next_ms(&self) -> Vec<i64> {
        self.poll()
            .await
            .iter()
            .map(|p| {
                p.strip_prefix("42[\"m\",")
                    .and_then(|s| s.strip_suffix(']'))
                    .unwrap_or_else(|| panic!("not an m event: {p}"))
                    .parse()
                    .unwrap()
            })
            .collect()
    }
}

#[tokio::test]
async fn a_kept_room_list_follows_membership_except_and_disconnects() {
    let io = SocketIo::new(Config::default());
    let sockets: Arc<Mutex<Vec<Socket>>> = Arc::default();
    let seen = sockets.clone();
    io.ns("/", move |socket| {
        let seen = seen.clone();
        async move {
            socket.join(["r"]);
            seen.lock().unwrap().push(socket);
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(io.clone().serve(listener));

    let mut ws = Vec::new();
    for _ in 0..MEMBERS {
        ws.push(Ws::connect(addr).await);
    }
    let polling = Polling::connect(&io).await;
    let by_sid = |sid: &str| {
        sockets
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.id() == sid)
            .cloned()
            .unwrap()
    };
    let emit = |n: i64| assert!(io.to(["r"]).emit("m", n));

    // The first broadcast looks the members up, the second keeps the list, the third uses it.
    let encoded = wsx::PreparedFrame::encoded_total();
    for n in 0..3 {
        emit(n);
    }
    assert!(
        wsx::PreparedFrame::encoded_total() >= encoded + 2,
        "the kept list's path (one frame encoded per broadcast) was not taken"
    );
    for w in &mut ws {
        for n in 0..3 {
            assert_eq!(w.next_m().await, n, "receiver {}", w.sid);
        }
    }
    assert_eq!(polling.next_ms().await, [0, 1, 2]);

    // A new member is in the next broadcast.
    let mut late = Ws::connect(addr).await;
    emit(3);
    emit(4);
    assert_eq!(late.next_m().await, 3);
    assert_eq!(late.next_m().await, 4);

    // A member that left is not (it still gets what is sent to its own room).
    by_sid(&ws[0].sid).leave("r");
    emit(5);
    emit(6);
    assert!(io.to([ws[0].sid.clone()]).emit("m", 100));
    assert_eq!(ws[0].next_m().await, 3);
    assert_eq!(ws[0].next_m().await, 4);
    assert_eq!(ws[0].next_m().await, 100);

    // `except`, with the list kept.
    let left_out = ws[1].sid.clone();
    for n in 7..10 {
        assert!(io.to(["r"]).except([left_out.clone()]).emit("m", n));
    }

    // A member disconnected by the server gets its DISCONNECT and nothing after it.
    by_sid(&ws[2].sid).disconnect(false);
    emit(10);
    emit(11);

    for (i, w) in ws.iter_mut().enumerate().skip(1) {
        let expected: Vec<i64> = match i {
            1 => vec![3, 4, 5, 6, 10, 11],
            2 => vec![3, 4, 5, 6, 7, 8, 9],
            _ => vec![3, 4, 5, 6, 7, 8, 9, 10, 11],
        };
        for n in expected {
            assert_eq!(w.next_m().await, n, "receiver {i}");
        }
        if i == 2 {
            assert_eq!(next_text(&mut w.ws).await, "41");
        }
    }
    assert_eq!(late.next_m().await, 5);
    let mut got = Vec::new();
    while got.len() < 9 {
        got.extend(polling.next_ms().await);
    }
    assert_eq!(got, [3, 4, 5, 6, 7, 8, 9, 10, 11]);

    // Nothing more arrived anywhere: a last broadcast is the next message of each.
    emit(12);
    for (i, w) in ws.iter_mut().enumerate() {
        if i != 0 && i != 2 {
            assert_eq!(w.next_m().await, 12, "receiver {i}");
        }
    }
    assert_eq!(polling.next_ms().await, [12]);
}
