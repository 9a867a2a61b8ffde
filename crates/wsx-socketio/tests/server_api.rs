//! The server API driven in-process: clients are long-polling sessions whose HTTP requests go
//! straight to `SocketIo::handle` (no sockets), so every packet the server writes is checked
//! byte for byte. Rooms and broadcast operators, volatile, broadcast acks, `on_any`, dynamic
//! namespaces, middleware errors, disconnect reasons, fetched sockets, connection state
//! recovery and the connect timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use serde_json::json;
use wsx_socketio::engine::CloseReason;
use wsx_socketio::{
    AckError, Config, ConnectError, DisconnectReason, RecoveryConfig, Socket, SocketIo,
};

const T: Duration = Duration::from_secs(5);

async fn call(io: &SocketIo, method: &str, uri: &str, body: &str) -> (u16, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .unwrap();
    let resp = tokio::time::timeout(T, io.handle(req))
        .await
        .expect("request hung");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// A long-polling client.
struct Client {
    io: SocketIo,
    sid: String,
}

impl Client {
    async fn open(io: &SocketIo) -> Client {
        let (status, open) = call(io, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
        assert_eq!(status, 200, "{open}");
        let v: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
        Client {
            io: io.clone(),
            sid: v["sid"].as_str().unwrap().to_owned(),
        }
    }

    fn uri(&self) -> String {
        format!("/socket.io/?EIO=4&transport=polling&sid={}", self.sid)
    }

    async fn post(&self, packets: &[&str]) {
        let (status, body) = call(&self.io, "POST", &self.uri(), &packets.join("\u{1e}")).await;
        assert_eq!((status, body.as_str()), (200, "ok"));
    }

    /// The packets of the next GET (waits for at least one).
    async fn poll(&self) -> Vec<String> {
        let (status, body) = call(&self.io, "GET", &self.uri(), "").await;
        assert_eq!(status, 200, "{body}");
        body.split('\u{1e}').map(str::to_owned).collect()
    }

    /// Polls until `n` packets have come; ignores heartbeat pings.
    async fn packets(&self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            out.extend(self.poll().await.into_iter().filter(|p| p != "2"));
        }
        assert_eq!(out.len(), n, "{out:?}");
        out
    }

    /// Connects to `nsp`, returning the CONNECT answer.
    async fn connect(&self, nsp: &str) -> String {
        let packet = if nsp == "/" {
            "40".to_owned()
        } else {
            format!("40{nsp},")
        };
        self.post(&[&packet]).await;
        self.packets(1).await.remove(0)
    }

    /// Whether a GET now would wait (nothing queued), checked without leaving it pending.
    async fn nothing_queued(&self) -> bool {
        let session = self.io.engine().session(&self.sid).unwrap();
        session.buffered_amount() == 0
    }
}

fn server() -> SocketIo {
    SocketIo::new(Config::default().ack_timeout(Duration::from_millis(300)))
}

/// Records what handlers see.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);
impl Log {
    fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn sid_of(ack: &str) -> String {
    let start = ack.find('{').unwrap();
    let v: serde_json::Value = serde_json::from_str(&ack[start..]).unwrap();
    v["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn rooms_to_except_and_socket_broadcast() {
    let io = server();
    io.ns("/", |socket| async move {
        let room = socket.handshake().auth["room"]
            .as_str()
            .unwrap_or("none")
            .to_owned();
        socket.join([room]);
        socket.on("shout", |socket, _| async move {
            socket.broadcast().emit("heard", socket.id());
        });
    });
    let mut clients = Vec::new();
    for room in ["red", "red", "blue"] {
        let c = Client::open(&io).await;
        c.post(&[&format!("40{{\"room\":\"{room}\"}}")]).await;
        let ack = c.packets(1).await.remove(0);
        clients.push((c, sid_of(&ack)));
    }
    io.to(["red"]).emit("color", "red");
    assert_eq!(clients[0].0.packets(1).await, [r#"42["color","red"]"#]);
    assert_eq!(clients[1].0.packets(1).await, [r#"42["color","red"]"#]);
    assert!(clients[2].0.nothing_queued().await);

    io.except(["red"]).emit("color", "not red");
    assert_eq!(clients[2].0.packets(1).await, [r#"42["color","not red"]"#]);
    assert!(clients[0].0.nothing_queued().await);

    // A socket id is a room: to one socket, and except one socket.
    io.to([clients[1].1.as_str()]).emit("only", 1);
    assert_eq!(clients[1].0.packets(1).await, [r#"42["only",1]"#]);
    io.to(["red", "blue"])
        .except([clients[0].1.as_str()])
        .emit("multi", ());
    assert!(clients[0].0.nothing_queued().await);
    assert_eq!(clients[1].0.packets(1).await, [r#"42["multi"]"#]);
    assert_eq!(clients[2].0.packets(1).await, [r#"42["multi"]"#]);

    // socket.broadcast() reaches everyone but the sender.
    clients[2].0.post(&[r#"42["shout"]"#]).await;
    let expected = format!(r#"42["heard","{}"]"#, clients[2].1);
    assert_eq!(
        clients[0].0.packets(1).await,
        std::slice::from_ref(&expected)
    );
    assert_eq!(clients[1].0.packets(1).await, [expected]);
    assert!(clients[2].0.nothing_queued().await);
}

#[tokio::test]
async fn volatile_skips_receivers_that_cannot_take_it_now() {
    let io = server();
    let a = Client::open(&io).await;
    let b = Client::open(&io).await;
    a.connect("/").await;
    b.connect("/").await;
    // `a` has a GET waiting; `b` does not.
    let waiting = {
        let a_uri = a.uri();
        let io = io.clone();
        tokio::spawn(async move { call(&io, "GET", &a_uri, "").await })
    };
    let session = io.engine().session(&a.sid).unwrap();
    tokio::time::timeout(T, async {
        while !session.writable() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    io.of("/").broadcast().volatile().emit("tick", 1);
    assert_eq!(waiting.await.unwrap().1, r#"42["tick",1]"#);
    assert!(b.nothing_queued().await, "b was not writable: dropped");
}

#[tokio::test]
async fn broadcast_with_acks_gathers_answers_and_timeouts() {
    let io = server();
    let a = Client::open(&io).await;
    let b = Client::open(&io).await;
    let sid_a = sid_of(&a.connect("/").await);
    let sid_b = sid_of(&b.connect("/").await);
    let io2 = io.clone();
    let gather = tokio::spawn(async move {
        io2.of("/")
            .broadcast()
            .timeout(Duration::from_millis(500))
            .emit_with_ack("question", "?")
            .await
    });
    // Both receive the same packet, with the same ack id.
    let qa = a.packets(1).await.remove(0);
    let qb = b.packets(1).await.remove(0);
    assert_eq!(qa, qb);
    let id: String = qa[2..].chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(qa, format!(r#"42{id}["question","?"]"#));
    a.post(&[&format!(r#"43{id}["yes"]"#)]).await; // b never answers
    let mut answers = gather.await.unwrap();
    answers.sort_by_key(|r| r.socket.as_deref() != Some(sid_a.as_str()));
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0].socket.as_deref(), Some(sid_a.as_str()));
    assert_eq!(
        answers[0].result.as_ref().unwrap(),
        &vec![json!("yes").into()]
    );
    assert_eq!(answers[1].socket.as_deref(), Some(sid_b.as_str()));
    assert_eq!(answers[1].result.as_ref().unwrap_err(), &AckError::Timeout);
}

#[tokio::test]
async fn socket_emit_with_ack_and_client_acks() {
    let io = server();
    let got: Arc<Mutex<Option<Socket>>> = Arc::default();
    let g = got.clone();
    io.ns("/", move |socket| {
        let g = g.clone();
        async move {
            socket.on("sum", |_, mut event| async move {
                let a: i64 = event.arg(0).unwrap();
                let b: i64 = event.arg(1).unwrap();
                event.ack(a + b);
            });
            *g.lock().unwrap() = Some(socket);
        }
    });
    let c = Client::open(&io).await;
    c.connect("/").await;
    c.post(&[r#"427["sum",2,3]"#]).await;
    assert_eq!(c.packets(1).await, ["437[5]"]);

    let socket = got.lock().unwrap().clone().unwrap();
    let fut = socket.emit_with_ack("ping?", ());
    let ask = c.packets(1).await.remove(0);
    let id: String = ask[2..].chars().take_while(char::is_ascii_digit).collect();
    c.post(&[&format!(r#"43{id}["pong",{{"n":1}}]"#)]).await;
    assert_eq!(
        fut.await.unwrap(),
        vec![json!("pong").into(), json!({"n": 1}).into()]
    );
    // No answer: the future times out (and a late answer is ignored).
    let fut = socket
        .emit_with_ack("ping?", ())
        .timeout(Duration::from_millis(100));
    let ask = c.packets(1).await.remove(0);
    assert_eq!(fut.await.unwrap_err(), AckError::Timeout);
    let id: String = ask[2..].chars().take_while(char::is_ascii_digit).collect();
    c.post(&[&format!(r#"43{id}["late"]"#)]).await;
}

#[tokio::test]
async fn on_any_sees_every_event_and_the_ack_goes_to_the_own_handler() {
    let io = server();
    let log = Log::default();
    let l = log.clone();
    io.ns("/", move |socket| {
        let l = l.clone();
        async move {
            let l2 = l.clone();
            socket.on_any(move |_, mut event| {
                let l = l2.clone();
                async move {
                    l.push(format!("any {} {}", event.name, event.args.len()));
                    event.ack("from any");
                }
            });
            socket.on("known", move |_, mut event| {
                let l = l.clone();
                async move {
                    l.push("own known");
                    event.ack("from own");
                }
            });
        }
    });
    let c = Client::open(&io).await;
    c.connect("/").await;
    c.post(&[r#"421["known",1,2]"#, r#"422["unknown"]"#]).await;
    assert_eq!(
        c.packets(2).await,
        [r#"431["from own"]"#, r#"432["from any"]"#]
    );
    assert_eq!(log.take(), ["any known 2", "own known", "any unknown 0"]);
}

#[tokio::test]
async fn middleware_errors_dynamic_and_unknown_namespaces() {
    let io = server();
    io.of("/admin").use_middleware(|socket| async move {
        if socket.handshake().auth.get("token") == Some(&json!("secret")) {
            Ok(())
        } else {
            Err(ConnectError::new("not authorized").data(json!({"retry": false})))
        }
    });
    io.dynamic_ns(|name, _| name.starts_with("/room-"))
        .on_connection(|socket| async move {
            let name = socket.ns().name().to_owned();
            socket.emit("welcome", name);
        });
    let c = Client::open(&io).await;
    c.post(&[r#"40/admin,{"token":"wrong"}"#]).await;
    assert_eq!(
        c.packets(1).await,
        [r#"44/admin,{"message":"not authorized","data":{"retry":false}}"#]
    );
    c.post(&[r#"40/admin,{"token":"secret"}"#]).await;
    assert!(c.packets(1).await[0].starts_with("40/admin,{\"sid\":"));

    c.post(&["40/room-7,"]).await;
    let got = c.packets(2).await;
    assert!(got[0].starts_with("40/room-7,{\"sid\":"), "{got:?}");
    assert_eq!(got[1], r#"42/room-7,["welcome","/room-7"]"#);

    assert_eq!(
        c.connect("/nope").await,
        r#"44/nope,{"message":"Invalid namespace"}"#
    );
}

#[tokio::test]
async fn disconnect_reasons_from_each_side() {
    let io = server();
    let log = Log::default();
    let l = log.clone();
    io.ns("/", move |socket| {
        let l = l.clone();
        async move {
            socket.on_disconnect(move |_, reason| {
                let l = l.clone();
                async move { l.push(reason.as_str()) }
            });
            socket.on(
                "kick me",
                |socket, _| async move { socket.disconnect(false) },
            );
        }
    });
    let c = Client::open(&io).await;
    c.connect("/").await;
    c.post(&["41"]).await;
    tokio::task::yield_now().await;
    assert_eq!(log.take(), ["client namespace disconnect"]);

    c.connect("/").await;
    c.post(&[r#"42["kick me"]"#]).await;
    assert_eq!(c.packets(1).await, ["41"]);
    assert_eq!(log.take(), ["server namespace disconnect"]);
    assert!(
        !io.engine().session(&c.sid).unwrap().is_closed(),
        "the session stays"
    );

    c.connect("/").await;
    io.engine()
        .session(&c.sid)
        .unwrap()
        .close(CloseReason::PingTimeout);
    assert_eq!(log.take(), ["ping timeout"]);
    assert_eq!(
        DisconnectReason::Transport(CloseReason::PingTimeout).as_str(),
        "ping timeout"
    );
}

#[tokio::test]
async fn fetched_sockets_can_be_moved_and_disconnected() {
    let io = server();
    io.ns("/", |socket| async move {
        socket.join(["lobby"]);
        socket.set_data(json!({"user": socket.handshake().auth["user"]}));
    });
    let a = Client::open(&io).await;
    a.post(&[r#"40{"user":"ada"}"#]).await;
    let sid = sid_of(&a.packets(1).await[0]);
    let found = io.to(["lobby"]).fetch_sockets().await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, sid);
    assert_eq!(found[0].data, json!({"user": "ada"}));
    assert!(found[0].rooms.contains(&"lobby".to_owned()));

    found[0].join(["vip"]);
    io.to(["vip"]).emit("vip", ());
    assert_eq!(a.packets(1).await, [r#"42["vip"]"#]);
    found[0].emit("direct", "hi");
    assert_eq!(a.packets(1).await, [r#"42["direct","hi"]"#]);
    io.to(["vip"]).disconnect_sockets(false);
    assert_eq!(a.packets(1).await, ["41"]);
    assert!(io.to(["lobby"]).fetch_sockets().await.is_empty());
}

#[tokio::test]
async fn connection_state_recovery_replays_missed_packets() {
    let io = SocketIo::new(Config::default().recovery(RecoveryConfig::default()));
    let log = Log::default();
    let l = log.clone();
    io.ns("/", move |socket| {
        let l = l.clone();
        async move {
            l.push(format!("recovered={}", socket.recovered()));
            if !socket.recovered() {
                socket.join(["news"]);
            }
        }
    });
    let a = Client::open(&io).await;
    a.post(&["40"]).await;
    let ack = a.packets(1).await.remove(0);
    let v: serde_json::Value = serde_json::from_str(&ack[2..]).unwrap();
    let (sid, pid) = (v["sid"].as_str().unwrap(), v["pid"].as_str().unwrap());

    io.to(["news"]).emit("tick", 1);
    let tick = a.packets(1).await.remove(0);
    let args: serde_json::Value = serde_json::from_str(&tick[2..]).unwrap();
    assert_eq!(args.as_array().unwrap()[0..2], [json!("tick"), json!(1)]);
    let offset = args[2]
        .as_str()
        .expect("an offset as last argument")
        .to_owned();

    // The connection drops; the room keeps talking.
    io.engine()
        .session(&a.sid)
        .unwrap()
        .close(CloseReason::TransportClose);
    io.to(["news"]).emit("tick", 2);
    io.to(["other"]).emit("tick", 99);
    io.to(["news"]).emit("tick", 3);

    let b = Client::open(&io).await;
    b.post(&[&format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#)])
        .await;
    let got = b.packets(3).await;
    assert!(got[0].starts_with(r#"42["tick",2,"#), "{got:?}");
    assert!(got[1].starts_with(r#"42["tick",3,"#), "{got:?}");
    assert_eq!(got[2], format!(r#"40{{"sid":"{sid}","pid":"{pid}"}}"#));
    assert_eq!(log.take(), ["recovered=false", "recovered=true"]);
    // Its rooms came back with it.
    io.to(["news"]).emit("tick", 4);
    assert!(b.packets(1).await[0].starts_with(r#"42["tick",4,"#));

    // A session is restored once; a stale offset or pid gives a fresh socket.
    let c = Client::open(&io).await;
    c.post(&[&format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#)])
        .await;
    let fresh = c.packets(1).await.remove(0);
    assert_ne!(sid_of(&fresh), sid);
}

// The clock is paused (tokio's test-util): it jumps to the next timer whenever every task
// waits, so the recovery window passes in no time, in the same order on any machine (the
// code under test keeps time with tokio's clock).
#[tokio::test(start_paused = true)]
async fn recovery_window_expires_and_client_disconnects_are_not_kept() {
    let io =
        SocketIo::new(Config::default().recovery(
            RecoveryConfig::default().max_disconnection_duration(Duration::from_millis(50)),
        ));
    let a = Client::open(&io).await;
    a.post(&["40"]).await;
    let ack = a.packets(1).await.remove(0);
    let pid = serde_json::from_str::<serde_json::Value>(&ack[2..]).unwrap()["pid"]
        .as_str()
        .unwrap()
        .to_owned();
    let sid = sid_of(&ack);
    io.emit("x", ());
    let x = a.packets(1).await.remove(0);
    let offset = serde_json::from_str::<serde_json::Value>(&x[2..]).unwrap()[1]
        .as_str()
        .unwrap()
        .to_owned();
    io.engine()
        .session(&a.sid)
        .unwrap()
        .close(CloseReason::TransportClose);
    // Past the 50 ms window, on the paused clock: the sleep ends once every task waits (the
    // disconnect has been recorded) and the clock has jumped; no time passes for real.
    tokio::time::sleep(Duration::from_millis(120)).await;
    let b = Client::open(&io).await;
    b.post(&[&format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#)])
        .await;
    assert_ne!(sid_of(&b.packets(1).await[0]), sid, "expired");

    // A client that leaves on purpose (41) is not kept, even within the window.
    let c = Client::open(&io).await;
    let ack = c.connect("/").await;
    let pid = serde_json::from_str::<serde_json::Value>(&ack[2..]).unwrap()["pid"]
        .as_str()
        .unwrap()
        .to_owned();
    io.emit("y", ());
    let y = c.packets(1).await.remove(0);
    let offset = serde_json::from_str::<serde_json::Value>(&y[2..]).unwrap()[1]
        .as_str()
        .unwrap()
        .to_owned();
    c.post(&["41"]).await;
    c.post(&[&format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#)])
        .await;
    assert_ne!(sid_of(&c.packets(1).await[0]), sid_of(&ack), "not restored");
}

// On the paused clock (see above): the sleep below ends only once every task waits and the
// clock has moved past the connect timeout's timer, which has run by then.
#[tokio::test(start_paused = true)]
async fn a_session_without_connect_is_closed_after_the_connect_timeout() {
    let io = SocketIo::new(Config::default().connect_timeout(Duration::from_millis(100)));
    let c = Client::open(&io).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (status, _) = call(&io, "GET", &c.uri(), "").await;
    assert_eq!(status, 400, "closed and forgotten");
}

#[tokio::test]
async fn disconnecting_sees_the_rooms_disconnect_sees_them_left() {
    let io = server();
    let log = Log::default();
    let l = log.clone();
    io.ns("/", move |socket| {
        let (l1, l2) = (l.clone(), l.clone());
        async move {
            socket.join(["lobby"]);
            socket.on_disconnecting(move |socket, _| {
                let l = l1.clone();
                async move {
                    let n = socket.ns().socket_count();
                    l.push(format!(
                        "disconnecting lobby={} count={n}",
                        socket.rooms().contains(&"lobby".to_owned())
                    ));
                }
            });
            socket.on_disconnect(move |socket, _| {
                let l = l2.clone();
                async move {
                    let n = socket.ns().socket_count();
                    l.push(format!(
                        "disconnect rooms={} count={n}",
                        socket.rooms().len()
                    ));
                }
            });
        }
    });
    let c = Client::open(&io).await;
    c.connect("/").await;
    c.post(&["41"]).await;
    assert_eq!(
        log.take(),
        [
            "disconnecting lobby=true count=1",
            "disconnect rooms=0 count=0"
        ]
    );
}

/// A stand-in for a cluster adapter: the cluster hooks recorded (with one fake socket and
/// one fake acknowledgement from "another node").
#[derive(Default)]
struct FakeCluster {
    calls: Log,
}

impl wsx_socketio::cluster::Cluster for FakeCluster {
    fn joined(&self, id: &str, rooms: &[String]) {
        if rooms != [id] {
            self.calls.push(format!("joined {rooms:?}"));
        }
    }
    fn broadcast(
        &self,
        packet: &wsx_socketio::socketio::Packet,
        opts: &wsx_socketio::cluster::BroadcastOptions,
    ) {
        let name = packet.event_name().unwrap_or("?");
        self.calls
            .push(format!("broadcast {name} to {:?}", opts.rooms));
    }
    fn sockets_join(&self, opts: &wsx_socketio::cluster::BroadcastOptions, rooms: &[String]) {
        self.calls
            .push(format!("join {:?} -> {rooms:?}", opts.rooms));
    }
    fn fetch_sockets(
        &self,
        _: &wsx_socketio::cluster::BroadcastOptions,
    ) -> wsx_socketio::cluster::BoxFuture<Vec<wsx_socketio::cluster::SocketInfo>> {
        Box::pin(async {
            vec![wsx_socketio::cluster::SocketInfo {
                id: "elsewhere".into(),
                rooms: vec!["lobby".into()],
                data: json!(null),
                auth: serde_json::Map::new(),
                request: None,
            }]
        })
    }
    fn broadcast_with_ack(
        &self,
        _: &wsx_socketio::socketio::Packet,
        _: &wsx_socketio::cluster::BroadcastOptions,
        on_ack: wsx_socketio::cluster::RemoteAck,
    ) -> wsx_socketio::cluster::BoxFuture<usize> {
        on_ack(vec![json!("remote yes").into()]);
        Box::pin(async { 2 }) // two remote receivers, one never answers
    }
    fn server_side_emit(&self, event: &str, args: &[wsx_socketio::Data]) {
        self.calls
            .push(format!("server-side {event} {}", args.len()));
    }
}

#[tokio::test]
async fn cluster_hooks_are_called_unless_local_and_their_answers_merged() {
    let calls = Log::default();
    let c2 = calls.clone();
    let io = SocketIo::new(
        Config::default()
            .ack_timeout(Duration::from_millis(200))
            .adapter(move |_| FakeCluster { calls: c2.clone() }),
    );
    io.ns("/", |socket| async move { socket.join(["lobby"]) });
    let a = Client::open(&io).await;
    a.connect("/").await;

    io.to(["lobby"]).emit("news", ());
    io.to(["lobby"]).local().emit("local news", ());
    io.to(["lobby"]).sockets_join(["vip"]);
    io.of("/").server_side_emit("hello", ("a", 1));
    assert_eq!(
        calls.take(),
        [
            r#"joined ["lobby"]"#,
            r#"broadcast news to ["lobby"]"#,
            r#"joined ["vip"]"#,
            r#"join ["lobby"] -> ["vip"]"#,
            "server-side hello 2"
        ]
    );
    let ids: Vec<String> = io
        .to(["lobby"])
        .fetch_sockets()
        .await
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[1], "elsewhere");
    assert_eq!(io.to(["lobby"]).local().fetch_sockets().await.len(), 1);

    let io2 = io.clone();
    let gather = tokio::spawn(async move { io2.to(["lobby"]).emit_with_ack("q", ()).await });
    let q = a.packets(3).await; // news, local news, q
    let id: String = q[2][2..].chars().take_while(char::is_ascii_digit).collect();
    a.post(&[&format!(r#"43{id}["local yes"]"#)]).await;
    let answers = gather.await.unwrap();
    assert_eq!(answers.len(), 3);
    assert_eq!(
        answers[0].result.as_ref().unwrap(),
        &vec![json!("local yes").into()]
    );
    assert_eq!(answers[1].socket, None);
    assert_eq!(
        answers[1].result.as_ref().unwrap(),
        &vec![json!("remote yes").into()]
    );
    assert_eq!(answers[2].result.as_ref().unwrap_err(), &AckError::Timeout);
}

#[tokio::test]
async fn a_session_past_its_pong_deadline_is_dead_even_when_the_timer_runs_late() {
    let io = SocketIo::new(
        Config::default().engine(
            wsx_socketio::engine::EngineConfig::default()
                .path("/socket.io/")
                .heartbeat(Duration::from_millis(50), Duration::from_millis(50)),
        ),
    );
    let c = Client::open(&io).await;
    // Block the runtime's only thread: the heartbeat task cannot run, as on a stalled machine.
    // (The stall is the scenario: it is not waiting for anything.)
    std::thread::sleep(Duration::from_millis(150));
    let (status, body) = call(&io, "GET", &c.uri(), "").await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"code":1,"message":"Session ID unknown"}"#),
        "no pong was possible by ping time + ping timeout"
    );
}
