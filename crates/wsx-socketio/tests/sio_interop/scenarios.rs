//! The scenarios, each run against `socket.io-client` in Node and (most of them) in Chromium.
//! Every one starts its own server on 127.0.0.1:0 and asserts both ends: the client's events
//! and what the server's handlers logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};
use wsx_socketio::engine::{Cors, TransportKind};
use wsx_socketio::{AckError, Config, ConnectError, Data, Socket, SocketIo};

use super::{
    Kind, Log, Peer, answer, engine, event, eventually, is, logged, marked, marked_args, serve,
    server_log, transport_name, unmarked,
};

fn io(config: Config) -> SocketIo {
    SocketIo::new(config)
}

/// The name a client gave in its `auth` (`{"name": …}`).
fn name_of(socket: &Socket) -> String {
    socket
        .handshake()
        .auth
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned()
}

/// Logs `disconnect` with the reason when `socket` leaves.
fn log_disconnect(socket: &Socket, log: &Log) {
    let log = log.clone();
    socket.on_disconnect(move |s, reason| {
        log.note(json!({
            "ev": "disconnect", "id": s.id(), "nsp": s.ns().name(), "name": name_of(&s),
            "reason": reason.as_str(),
        }));
        async {}
    });
}

fn log_connect(socket: &Socket, log: &Log) {
    log.note(json!({
        "ev": "connect", "id": socket.id(), "nsp": socket.ns().name(), "name": name_of(socket),
        "session": socket.session_id(), "transport": transport_name(socket.transport()),
        "auth": Value::Object(socket.handshake().auth.clone()),
    }));
}

/// `echo`: acks its arguments back (binary included).
fn on_echo(socket: &Socket) {
    socket.on("echo", |_, mut e| async move {
        let args = std::mem::take(&mut e.args);
        e.ack(args);
    });
}

// ---------------------------------------------------------------------------------------------

/// One transport only: connect, events both ways, an ack, the transport on both ends stays the
/// one asked for, and a client disconnect.
pub async fn single_transport(kind: Kind, transport: &str) {
    let (log, mut srv) = server_log();
    let io = io(Config::default().engine(engine().transports(true, true)));
    let l = log.clone();
    io.ns("/", move |socket| {
        let log = l.clone();
        async move {
            log_connect(&socket, &log);
            log_disconnect(&socket, &log);
            on_echo(&socket);
            let log2 = log.clone();
            socket.on("hello", move |s, e| {
                log2.note(json!({
                    "ev": "hello", "args": marked_args(&e.args),
                    "transport": transport_name(s.transport()),
                }));
                async {}
            });
            socket.emit(
                "welcome",
                (json!({ "n": 1, "list": [1, "two", null] }), "two"),
            );
        }
    });
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;

    let c = peer
        .connected(
            "c",
            &url,
            "/",
            json!({ "transports": [transport] }),
            Value::Null,
        )
        .await;
    assert_eq!(c["transport"], transport, "{c}");
    let s = srv.expect("connect", logged("connect")).await;
    assert_eq!(s["transport"], transport, "{s}");
    assert_eq!(s["id"], c["sid"], "the client's socket id is the server's");

    let w = peer.expect("welcome", event("c", "welcome")).await;
    assert_eq!(
        w["args"],
        json!([{ "n": 1, "list": [1, "two", null] }, "two"])
    );
    assert_eq!(w["ack"], Value::Null);

    let args = json!([1, "two", { "three": [3, 3.5, true, false, null] }, "é ✓ \u{1F600}", ""]);
    assert_eq!(peer.emit_ack_wait("c", "echo", args.clone()).await, args);

    peer.emit("c", "hello", json!(["x", 2]));
    let h = srv.expect("hello", logged("hello")).await;
    assert_eq!(h["args"], json!(["x", 2]));
    assert_eq!(h["transport"], transport);

    // Nothing upgraded on either end.
    peer.send(json!({ "op": "state", "id": "c" }));
    let st = peer.expect("state", is("c", "state")).await;
    assert_eq!(st["transport"], transport, "{st}");
    assert!(
        peer.inbox
            .drain_matching(|v| v["ev"] == "upgrade")
            .is_empty()
    );
    let sockets = io.of("/").sockets();
    assert_eq!(sockets.len(), 1);
    assert_eq!(transport_name(sockets[0].transport()), transport);

    peer.send(json!({ "op": "disconnect", "id": "c" }));
    let d = peer.expect("disconnect", is("c", "disconnect")).await;
    assert_eq!(d["reason"], "io client disconnect");
    assert_eq!(d["active"], false);
    let d = srv.expect("server disconnect", logged("disconnect")).await;
    assert_eq!(d["reason"], "client namespace disconnect");
    // The disconnect handlers run before the socket leaves its namespace.
    eventually("the socket to leave its namespace", || {
        io.of("/").socket_count() == 0
    })
    .await;
}

/// Polling, then the upgrade to WebSocket while the server streams numbered events: the server
/// sees its transport change, and the client gets every event once, in order.
pub async fn upgrade_without_loss(kind: Kind) {
    const FIRST: u64 = 100; // sent at once on connection: still polling, for sure
    const TOTAL_MIN: u64 = 200;
    const AFTER_MIN: u64 = 50; // sent after the server saw WebSocket
    let (log, mut srv) = server_log();
    let io = io(Config::default());
    io.ns("/", move |socket| {
        let log = log.clone();
        async move {
            log_connect(&socket, &log);
            let l = log.clone();
            socket.on("up", move |s, e| {
                let i = e.json(0).cloned().unwrap_or_default();
                l.note(json!({ "ev": "up", "i": i, "transport": transport_name(s.transport()) }));
                async {}
            });
            let l = log.clone();
            socket.on("up_end", move |_, e| {
                l.note(json!({ "ev": "up_end", "n": e.json(0).cloned().unwrap_or_default() }));
                async {}
            });
            // The connection handler runs while the client's CONNECT POST is answered, and the
            // client sends the upgrade's `5` only after that POST: these go out over polling.
            let mut first_on_polling = 0;
            for i in 0..FIRST {
                if socket.transport() == TransportKind::Polling {
                    first_on_polling += 1;
                }
                socket.emit("n", i);
            }
            tokio::spawn(async move {
                let (mut i, mut on_ws) = (FIRST, 0u64);
                let deadline = Instant::now() + Duration::from_secs(15);
                while (on_ws < AFTER_MIN || i < TOTAL_MIN) && Instant::now() < deadline {
                    if socket.transport() == TransportKind::WebSocket {
                        on_ws += 1;
                    }
                    socket.emit("n", i);
                    i += 1;
                    if i % 4 == 0 {
                        // Spread the stream over the upgrade (pacing, not synchronization).
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                socket.emit("end", i);
                log.note(json!({
                    "ev": "streamed", "total": i, "on_websocket": on_ws,
                    "first_on_polling": first_on_polling,
                    "transport": transport_name(socket.transport()),
                }));
            });
        }
    });
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;
    peer.connect("c", &url, "/", json!({}), Value::Null);
    // The client streams too, from now on: its first events wait for the connection, the
    // others go out over polling, during the upgrade (buffered) and over the WebSocket.
    const UP: u64 = 200;
    peer.send(json!({ "op": "stream", "id": "c", "event": "up", "count": UP, "every_ms": 1 }));
    let open = peer.expect("open", is("c", "open")).await;
    assert_eq!(open["transport"], "polling");
    // The CONNECT ack may reach the client over polling or, if the probe overtook the CONNECT
    // POST, in the queue the upgrade moves to the WebSocket: either way, the server handled the
    // CONNECT over polling (the client sends `5` only once that POST is answered).
    peer.expect("connect", is("c", "connect")).await;
    let s = srv.expect("connect", logged("connect")).await;
    assert_eq!(s["transport"], "polling");

    let end = peer.expect("end of the stream", event("c", "end")).await;
    let total = end["args"][0].as_u64().unwrap();
    let streamed = srv.expect("streamed", logged("streamed")).await;
    assert_eq!(streamed["total"], total);
    assert!(
        streamed["on_websocket"].as_u64().unwrap() >= AFTER_MIN,
        "the stream must run past the upgrade: {streamed}"
    );
    assert_eq!(streamed["transport"], "websocket");
    assert_eq!(streamed["first_on_polling"], FIRST, "{streamed}");
    let got: Vec<u64> = peer
        .inbox
        .drain_matching(event("c", "n"))
        .iter()
        .map(|v| v["args"][0].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = (0..total).collect();
    assert_eq!(got.len(), want.len(), "lost or duplicated events");
    assert_eq!(got, want, "every event once, in order");
    let up = peer.expect("upgrade", is("c", "upgrade")).await;
    assert_eq!(up["transport"], "websocket");
    assert_eq!(
        io.of("/").sockets()[0].transport(),
        TransportKind::WebSocket
    );
    assert_eq!(io.engine().session_count(), 1);

    let up_end = srv.expect("the client's stream", logged("up_end")).await;
    assert_eq!(up_end["n"], UP);
    let ups = srv.drain_matching(logged("up"));
    let got: Vec<u64> = ups.iter().map(|v| v["i"].as_u64().unwrap()).collect();
    assert_eq!(
        got,
        (0..UP).collect::<Vec<_>>(),
        "every client event once, in order"
    );
    let on_ws = ups.iter().filter(|v| v["transport"] == "websocket").count();
    eprintln!(
        "client stream: {} of {UP} events arrived over WebSocket",
        on_ws
    );
    // Still fine after the upgrade.
    peer.send(json!({ "op": "state", "id": "c" }));
    let st = peer.expect("state", is("c", "state")).await;
    assert_eq!(st["transport"], "websocket");
    assert_eq!(st["connected"], true);
}

/// Three clients in rooms; `to`, `except`, unions, a socket's own broadcast (itself
/// excluded), `leave`: each client gets exactly the messages meant for it.
pub async fn rooms(kind: Kind) {
    let (log, mut srv) = server_log();
    let io = io(Config::default());
    let l = log.clone();
    io.ns("/", move |socket| {
        let log = l.clone();
        async move {
            log_connect(&socket, &log);
            socket.on("join", |s, mut e| async move {
                let rooms: Vec<String> = e.arg(0).unwrap();
                s.join(rooms);
                let mut now = s.rooms();
                now.sort();
                e.ack(json!(now));
            });
            socket.on("leave", |s, mut e| async move {
                let room: String = e.arg(0).unwrap();
                s.leave(&room);
                let mut now = s.rooms();
                now.sort();
                e.ack(json!(now));
            });
            socket.on("go", |s, mut e| async move {
                let ns = s.ns().clone();
                let b = ns
                    .sockets()
                    .into_iter()
                    .find(|x| name_of(x) == "b")
                    .unwrap();
                ns.to(["r1"]).emit("m", "to-r1");
                ns.to(["r2"]).except(["r1"]).emit("m", "r2-not-r1");
                ns.to(["r1", "r2"]).emit("m", "r1-or-r2");
                b.to(["r2"]).emit("m", "b-to-r2");
                ns.except(["r2"]).emit("m", "not-r2");
                b.broadcast().emit("m", "all-but-b");
                ns.emit("m", "end");
                e.ack(());
            });
            socket.on("go2", |s, mut e| async move {
                s.ns().to(["r1"]).emit("m", "r1-after-leave");
                s.ns().emit("m", "end2");
                e.ack(());
            });
        }
    });
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;
    let mut sids = Vec::new();
    for name in ["a", "b", "c"] {
        let c = peer
            .connected(name, &url, "/", json!({}), json!({ "name": name }))
            .await;
        sids.push(c["sid"].as_str().unwrap().to_owned());
    }
    for (name, rooms) in [
        ("a", json!(["r1"])),
        ("b", json!(["r1", "r2"])),
        ("c", json!(["r2"])),
    ] {
        let now = peer.emit_ack_wait(name, "join", json!([rooms])).await;
        let sid = &sids[["a", "b", "c"].iter().position(|n| *n == name).unwrap()];
        let mut want: Vec<Value> = rooms.as_array().unwrap().clone();
        want.push(json!(sid));
        want.sort_by_key(|v| v.as_str().unwrap().to_owned());
        assert_eq!(now, json!([want]), "rooms of {name}");
    }
    assert_eq!(peer.emit_ack_wait("a", "go", json!([])).await, json!([]));
    let got = |peer: &mut Peer, name: &str| -> Vec<String> {
        peer.inbox
            .drain_matching(event(name, "m"))
            .iter()
            .map(|v| v["args"][0].as_str().unwrap().to_owned())
            .collect()
    };
    for name in ["a", "b", "c"] {
        peer.expect(&format!("end at {name}"), {
            let p = event(name, "m");
            move |v: &Value| p(v) && v["args"][0] == "end"
        })
        .await;
    }
    // The "end" markers were taken out; what is left came before them.
    assert_eq!(
        got(&mut peer, "a"),
        ["to-r1", "r1-or-r2", "not-r2", "all-but-b"]
    );
    assert_eq!(got(&mut peer, "b"), ["to-r1", "r1-or-r2"]);
    assert_eq!(
        got(&mut peer, "c"),
        ["r2-not-r1", "r1-or-r2", "b-to-r2", "all-but-b"]
    );

    let now = peer.emit_ack_wait("b", "leave", json!(["r1"])).await;
    let mut want = vec![sids[1].clone(), "r2".to_owned()];
    want.sort();
    assert_eq!(now, json!([want]));
    assert_eq!(peer.emit_ack_wait("c", "go2", json!([])).await, json!([]));
    for name in ["a", "b", "c"] {
        peer.expect(&format!("end2 at {name}"), {
            let p = event(name, "m");
            move |v: &Value| p(v) && v["args"][0] == "end2"
        })
        .await;
    }
    assert_eq!(got(&mut peer, "a"), ["r1-after-leave"]);
    assert!(got(&mut peer, "b").is_empty());
    assert!(got(&mut peer, "c").is_empty());
    assert_eq!(srv.drain_matching(logged("connect")).len(), 3);
}

/// The client's ack callbacks: answered with values, out of order by id, with no arguments.
pub async fn client_acks(kind: Kind) {
    let io = io(Config::default());
    io.ns("/", |socket| async move {
        socket.on("sum", |_, mut e| async move {
            let sum: f64 = e.args.iter().filter_map(|a| marked(a).as_f64()).sum();
            e.ack(json!(sum));
        });
        // "slow" is answered only after "fast" was: an order of events, not of timers.
        let fast_answered = Arc::new(tokio::sync::Notify::new());
        let gate = fast_answered.clone();
        socket.on("slow", move |_, mut e| {
            let gate = gate.clone();
            async move {
                gate.notified().await;
                e.ack("slow");
            }
        });
        socket.on("fast", move |_, mut e| {
            let fast_answered = fast_answered.clone();
            async move {
                e.ack("fast");
                fast_answered.notify_one();
            }
        });
        socket.on("nothing", |_, mut e| async move {
            e.ack(());
        });
    });
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;
    peer.connected("c", &url, "/", json!({}), Value::Null).await;
    assert_eq!(
        peer.emit_ack_wait("c", "sum", json!([1, 2, 3.5])).await,
        json!([6.5])
    );
    assert_eq!(
        peer.emit_ack_wait("c", "nothing", json!([])).await,
        json!([])
    );
    // The slow one is asked first and answered last: acks are matched by id.
    peer.emit_ack("c", "slow", json!([]), "slow");
    peer.emit_ack("c", "fast", json!([]), "fast");
    let first = peer
        .expect("an ack", |v| {
            v["ev"] == "ack" && (v["tag"] == "slow" || v["tag"] == "fast")
        })
        .await;
    assert_eq!(first["tag"], "fast", "{first}");
    assert_eq!(first["args"], json!(["fast"]));
    let second = peer.expect("the slow ack", answer("slow")).await;
    assert_eq!(second["args"], json!(["slow"]));
}

/// `socket.emit_with_ack` from the server: answered by the client automatically (its own
/// arguments, binary included), answered by hand, and failing with `Disconnected` when the
/// client leaves without answering.
pub async fn server_acks(kind: Kind) {
    let (log, mut srv) = server_log();
    let io = io(Config::default());
    io.ns("/", move |socket| {
        let log = log.clone();
        async move {
            log_connect(&socket, &log);
            let l = log.clone();
            socket.on("ask_me", move |s, _| {
                let log = l.clone();
                async move {
                    let sent = (
                        json!({ "q": [1, 2] }),
                        Bytes::from_static(b"\x00\x01\xfe\xff"),
                    );
                    let r = s
                        .emit_with_ack("q", sent)
                        .timeout(Duration::from_secs(10))
                        .await;
                    log.note(json!({ "ev": "q", "result": marked_args(&r.unwrap()) }));
                    let r = s
                        .emit_with_ack("q2", "by hand")
                        .timeout(Duration::from_secs(10))
                        .await;
                    log.note(json!({ "ev": "q2", "result": marked_args(&r.unwrap()) }));
                    let t0 = Instant::now();
                    let r = s
                        .emit_with_ack("q3", ())
                        .timeout(Duration::from_secs(10))
                        .await;
                    log.note(json!({
                        "ev": "q3", "error": format!("{:?}", r.unwrap_err()),
                        "ms": t0.elapsed().as_millis() as u64,
                    }));
                }
            });
        }
    });
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;
    peer.connected("c", &url, "/", json!({}), Value::Null).await;
    peer.call(json!({ "op": "auto_ack", "id": "c", "event": "q", "echo": true }))
        .await;
    peer.emit("c", "ask_me", json!([]));
    let q = peer.expect("q", event("c", "q")).await;
    assert_eq!(q["args"], json!([{ "q": [1, 2] }, { "$bin": "0001feff" }]));
    assert_eq!(q["ack"], "echo");
    let r = srv.expect("q's ack", logged("q")).await;
    assert_eq!(
        r["result"],
        json!([{ "q": [1, 2] }, { "$bin": "0001feff" }])
    );

    let q2 = peer.expect("q2", event("c", "q2")).await;
    assert_eq!(q2["args"], json!(["by hand"]));
    let n = q2["ack"].as_u64().expect("an ack is asked for");
    peer.send(json!({ "op": "reply", "ack": n, "args": ["manual", 42, { "$bin": "ab" }] }));
    let r = srv.expect("q2's ack", logged("q2")).await;
    assert_eq!(r["result"], json!(["manual", 42, { "$bin": "ab" }]));

    // q3 is never answered: the client leaves instead.
    let q3 = peer.expect("q3", event("c", "q3")).await;
    assert!(q3["ack"].is_u64(), "{q3}");
    peer.send(json!({ "op": "disconnect", "id": "c" }));
    let r = srv.expect("q3's failure", logged("q3")).await;
    assert_eq!(r["error"], format!("{:?}", AckError::Disconnected));
    assert!(
        r["ms"].as_u64().unwrap() < 9000,
        "Disconnected comes before the timeout: {r}"
    );
}

/// Acks that never come, on both sides: the server's `emit_with_ack` fails with `Timeout`
/// after its timeout, and the client's `socket.timeout(ms).emit` calls back with an error.
pub async fn ack_timeouts(kind: Kind) {
    let (log, mut srv) = server_log();
    let io = io(Config::default());
    io.ns("/", move |socket| {
        let log = log.clone();
        async move {
            let l = log.clone();
            socket.on("black_hole", move |_, e| {
                // Received, never acknowledged (the AckSender is dropped).
                l.note(json!({ "ev": "black_hole", "args": marked_args(&e.args), "asked": e.ack.is_some() }));
                async {}
            });
            let l = log.clone();
            socket.on("ask_me", move |s, _| {
                let log = l.clone();
                async move {
                    let t0 = Instant::now();
                    let r = s.emit_with_ack("ignored", 1).timeout(Duration::from_millis(300)).await;
                    log.note(json!({
                        "ev": "ignored", "error": format!("{:?}", r.unwrap_err()),
                        "ms": t0.elapsed().as_millis() as u64,
                    }));
                }
            });
        }
    });
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;
    peer.connected("c", &url, "/", json!({}), Value::Null).await;
    peer.call(json!({ "op": "auto_ack", "id": "c", "event": "ignored", "never": true }))
        .await;

    let t0 = Instant::now();
    peer.send(json!({
        "op": "emit", "id": "c", "event": "black_hole", "args": ["void"], "ack": true,
        "timeout": 300, "tag": "bh",
    }));
    let b = srv.expect("black_hole", logged("black_hole")).await;
    assert_eq!(b["args"], json!(["void"]));
    assert_eq!(b["asked"], true);
    let a = peer.expect("the client's timeout", answer("bh")).await;
    assert_eq!(a["ev"], "ack_error", "{a}");
    assert_eq!(a["message"], "operation has timed out");
    assert!(t0.elapsed() >= Duration::from_millis(300));

    peer.emit("c", "ask_me", json!([]));
    let e = peer.expect("ignored", event("c", "ignored")).await;
    assert_eq!(e["ack"], "never");
    let r = srv.expect("the server's timeout", logged("ignored")).await;
    assert_eq!(r["error"], format!("{:?}", AckError::Timeout));
    let ms = r["ms"].as_u64().unwrap();
    assert!(
        (300..5000).contains(&ms),
        "timed out after {ms} ms (asked 300)"
    );
    // The socket is still connected and works.
    peer.send(json!({ "op": "state", "id": "c" }));
    assert_eq!(
        peer.expect("state", is("c", "state")).await["connected"],
        true
    );
}

/// A room broadcast with acks: every member's answer is gathered, a silent member times out
/// without holding the others, and with every member answering the gather ends at once.
pub async fn broadcast_acks(kind: Kind) {
    let (log, mut srv) = server_log();
    let io = io(Config::default());
    io.ns("/", move |socket| {
        let log = log.clone();
        async move {
            socket.join(["team"]);
            let l = log.clone();
            socket.on("poll", move |s, mut e| {
                let log = l.clone();
                async move {
                    let except: Vec<String> = e.arg(0).unwrap_or_default();
                    let timeout: u64 = e.arg(1).unwrap();
                    let t0 = Instant::now();
                    let answers = s
                        .ns()
                        .to(["team"])
                        .except(except)
                        .timeout(Duration::from_millis(timeout))
                        .emit_with_ack("ask", json!({ "question": "name?" }))
                        .await;
                    let ms = t0.elapsed().as_millis() as u64;
                    let mut by_name = serde_json::Map::new();
                    for a in answers {
                        let who = s
                            .ns()
                            .get_socket(a.socket.as_deref().unwrap())
                            .map(|x| name_of(&x))
                            .unwrap();
                        let r = match a.result {
                            Ok(args) => marked_args(&args),
                            Err(err) => json!(format!("{err:?}")),
                        };
                        by_name.insert(who, r);
                    }
                    log.note(json!({ "ev": "poll", "answers": by_name, "ms": ms }));
                    e.ack(());
                }
            });
        }
    });
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;
    let mut silent_sid = String::new();
    for name in ["a", "b", "c", "silent"] {
        let c = peer
            .connected(name, &url, "/", json!({}), json!({ "name": name }))
            .await;
        if name == "silent" {
            peer.call(json!({ "op": "auto_ack", "id": name, "event": "ask", "never": true }))
                .await;
            silent_sid = c["sid"].as_str().unwrap().to_owned();
        } else {
            peer.call(json!({ "op": "auto_ack", "id": name, "event": "ask", "reply": [name, { "$bin": "0a" }] }))
                .await;
        }
    }
    peer.emit_ack("a", "poll", json!([[], 600]), "p1");
    let p = srv.expect("poll", logged("poll")).await;
    assert_eq!(
        p["answers"],
        json!({
            "a": ["a", { "$bin": "0a" }], "b": ["b", { "$bin": "0a" }],
            "c": ["c", { "$bin": "0a" }], "silent": "Timeout",
        }),
        "{p}"
    );
    let ms = p["ms"].as_u64().unwrap();
    assert!(
        (600..5000).contains(&ms),
        "gathered after {ms} ms (timeout 600)"
    );
    assert_eq!(peer.expect("p1", answer("p1")).await["ev"], "ack");
    for name in ["a", "b", "c", "silent"] {
        let e = peer.expect("ask", event(name, "ask")).await;
        assert_eq!(e["args"], json!([{ "question": "name?" }]));
    }

    peer.emit_ack("b", "poll", json!([[silent_sid], 10_000]), "p2");
    let p = srv
        .expect("poll without the silent one", logged("poll"))
        .await;
    assert_eq!(
        p["answers"],
        json!({ "a": ["a", { "$bin": "0a" }], "b": ["b", { "$bin": "0a" }], "c": ["c", { "$bin": "0a" }] }),
    );
    assert!(
        p["ms"].as_u64().unwrap() < 5000,
        "no wait for the timeout when all answer: {p}"
    );
    assert_eq!(peer.expect("p2", answer("p2")).await["ev"], "ack");
}

/// Binary both ways, nested in objects and arrays, over `transport` (`websocket`: binary
/// frames; `polling`: base64 in the payload): the client's emit with an ack echoed by the
/// server, the server's emit, and the server's emit_with_ack echoed by the client.
pub async fn binary(kind: Kind, transport: &str) {
    let (log, mut srv) = server_log();
    let io = io(Config::default());
    let big: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 256) as u8).collect();
    let big_hex = super::hex(&big);
    let from_server = json!([
        { "$bin": "cafebabe" },
        { "k": { "$bin": "00" }, "arr": [{ "$bin": "0102" }, 1, "s", { "deep": { "$bin": "ff" } }], "plain": { "x": 1 } },
        "text",
    ]);
    let fs = from_server.clone();
    io.ns("/", move |socket| {
        let log = log.clone();
        let fs = fs.clone();
        async move {
            log_connect(&socket, &log);
            let l = log.clone();
            socket.on("bin", move |_, mut e| {
                l.note(json!({ "ev": "bin", "args": marked_args(&e.args) }));
                let args = std::mem::take(&mut e.args);
                e.ack(args);
                async {}
            });
            let l = log.clone();
            socket.on("send_me", move |s, _| {
                let log = l.clone();
                let fs = fs.clone();
                async move {
                    let args: Vec<Data> = fs.as_array().unwrap().iter().map(unmarked).collect();
                    s.emit("from_server", args.clone());
                    let r = s
                        .emit_with_ack("echo_me", args)
                        .timeout(Duration::from_secs(10))
                        .await;
                    log.note(json!({ "ev": "echoed", "result": marked_args(&r.unwrap()) }));
                }
            });
        }
    });
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;
    let c = peer
        .connected(
            "c",
            &url,
            "/",
            json!({ "transports": [transport] }),
            Value::Null,
        )
        .await;
    assert_eq!(c["transport"], transport);
    peer.call(json!({ "op": "auto_ack", "id": "c", "event": "echo_me", "echo": true }))
        .await;

    let to_server = json!([
        { "$bin": "00ff10" },
        { "meta": "x", "parts": [{ "$bin": "01" }, { "$bin": "" }, { "deep": { "$bin": "deadbeef" } }], "n": null },
        "text",
        [[{ "$bin": big_hex }]],
    ]);
    peer.emit_ack("c", "bin", to_server.clone(), "bin");
    let b = srv.expect("bin", logged("bin")).await;
    assert_eq!(b["args"], to_server, "what the server decoded");
    let a = peer.expect("bin's ack", answer("bin")).await;
    assert_eq!(
        a["args"], to_server,
        "what the client decoded of the server's ack"
    );
    let want_type = if kind == Kind::Node {
        "Buffer"
    } else {
        "ArrayBuffer"
    };
    assert_eq!(a["bin_types"].as_array().unwrap().len(), 5);
    assert!(
        a["bin_types"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t == want_type),
        "{a}"
    );

    peer.emit("c", "send_me", json!([]));
    let e = peer.expect("from_server", event("c", "from_server")).await;
    assert_eq!(e["args"], from_server);
    assert!(
        e["bin_types"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t == want_type),
        "{e}"
    );
    let r = srv.expect("echoed", logged("echoed")).await;
    assert_eq!(r["result"], from_server);
    assert_eq!(
        transport_name(io.of("/").sockets()[0].transport()),
        transport
    );
}

/// Middleware: a refusal reaches the client as `connect_error` with its message and data, and
/// the connection handler never runs for it; an accepted client (after an async middleware)
/// connects.
pub async fn middleware(kind: Kind) {
    let (log, mut srv) = server_log();
    let io = io(Config::default());
    let private = io.of("/private");
    private.use_middleware(|socket| async move {
        // Not ready at once: the middleware chain goes on in a task.
        tokio::task::yield_now().await;
        let token = socket
            .handshake()
            .auth
            .get("token")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match token.as_deref() {
            Some("letmein") => Ok(()),
            _ => Err(ConnectError::new("not authorized")
                .data(json!({ "code": 4001, "reasons": ["bad token"] }))),
        }
    });
    private.use_middleware(|_| async { Ok(()) });
    private.on_connection(move |socket| {
        let log = log.clone();
        async move { log_connect(&socket, &log) }
    });
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;

    peer.connect(
        "bad",
        &url,
        "/private",
        json!({}),
        json!({ "token": "wrong" }),
    );
    let e = peer
        .expect("connect_error", is("bad", "connect_error"))
        .await;
    assert_eq!(e["message"], "not authorized");
    assert_eq!(e["data"], json!({ "code": 4001, "reasons": ["bad token"] }));
    peer.send(json!({ "op": "state", "id": "bad" }));
    let st = peer.expect("state", is("bad", "state")).await;
    assert_eq!(st["connected"], false);
    assert_eq!(st["active"], false, "a middleware refusal is final: {st}");

    let ok = peer
        .connected(
            "good",
            &url,
            "/private",
            json!({}),
            json!({ "token": "letmein", "name": "good" }),
        )
        .await;
    let s = srv.expect("connect", logged("connect")).await;
    assert_eq!(s["id"], ok["sid"]);
    assert_eq!(s["name"], "good");
    assert!(
        srv.drain_matching(logged("connect")).is_empty(),
        "the refused client never connected"
    );
    assert_eq!(io.of("/private").socket_count(), 1);
}

/// An unknown namespace gets "Invalid namespace"; a dynamic namespace's predicate decides on
/// the name and the `auth`, and each child namespace is its own.
pub async fn namespaces_unknown_and_dynamic(kind: Kind) {
    let (log, mut srv) = server_log();
    let io = io(Config::default());
    let template = io.dynamic_ns(|name, auth| {
        name.starts_with("/dyn-") && auth.get("ok").and_then(Value::as_bool) != Some(false)
    });
    template.use_middleware(|socket| async move {
        match socket.handshake().auth.get("deny").and_then(Value::as_bool) {
            Some(true) => Err(ConnectError::new(format!(
                "denied in {}",
                socket.ns().name()
            ))),
            _ => Ok(()),
        }
    });
    template.on_connection(move |socket| {
        let log = log.clone();
        async move {
            log_connect(&socket, &log);
            socket.emit("welcome", socket.ns().name());
            socket.on("which", |s, mut e| async move {
                e.ack(s.ns().name());
            });
        }
    });
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;

    peer.connect("nope", &url, "/nope", json!({}), Value::Null);
    let e = peer
        .expect("connect_error", is("nope", "connect_error"))
        .await;
    assert_eq!(e["message"], "Invalid namespace");
    peer.connect("refused", &url, "/dyn-3", json!({}), json!({ "ok": false }));
    let e = peer
        .expect("connect_error", is("refused", "connect_error"))
        .await;
    assert_eq!(e["message"], "Invalid namespace");

    // The template's middleware runs for its children.
    peer.connect("denied", &url, "/dyn-9", json!({}), json!({ "deny": true }));
    let e = peer
        .expect("connect_error", is("denied", "connect_error"))
        .await;
    assert_eq!(e["message"], "denied in /dyn-9");
    for (id, nsp) in [("d1", "/dyn-1"), ("d2", "/dyn-2")] {
        peer.connected(id, &url, nsp, json!({}), json!({ "name": id }))
            .await;
        let w = peer.expect("welcome", event(id, "welcome")).await;
        assert_eq!(w["args"], json!([nsp]));
        assert_eq!(
            peer.emit_ack_wait(id, "which", json!([])).await,
            json!([nsp])
        );
        let s = srv.expect("connect", logged("connect")).await;
        assert_eq!(s["nsp"], nsp);
    }
    // The children are namespaces of the server now, each with its own sockets.
    assert_eq!(io.of("/dyn-1").socket_count(), 1);
    io.of("/dyn-1").emit("only", "for dyn-1");
    io.of("/dyn-2").emit("only", "for dyn-2");
    let o = peer.expect("only at d1", event("d1", "only")).await;
    assert_eq!(o["args"], json!(["for dyn-1"]));
    let o = peer.expect("only at d2", event("d2", "only")).await;
    assert_eq!(o["args"], json!(["for dyn-2"]));
    assert!(srv.drain_matching(logged("connect")).is_empty());
    assert!(peer.inbox.drain_matching(event("d1", "only")).is_empty());
}

/// The server disconnects a socket: the client sees "io server disconnect" and does not
/// reconnect (though reconnection is on), its other namespace stays; with `close`, the whole
/// session ends and the manager does not reconnect either.
pub async fn server_disconnect(kind: Kind) {
    let (log, mut srv) = server_log();
    let io = io(Config::default());
    for nsp in ["/", "/other"] {
        let log = log.clone();
        io.ns(nsp, move |socket| {
            let log = log.clone();
            async move {
                log_connect(&socket, &log);
                log_disconnect(&socket, &log);
                socket.on("kick_me", |s, e| async move {
                    let close: bool = e.arg(0).unwrap();
                    s.disconnect(close);
                });
                socket.on("ping", |_, mut e| async move {
                    e.ack("pong");
                });
            }
        });
    }
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;
    let opts =
        json!({ "reconnection": true, "reconnectionDelay": 50, "reconnectionDelayMax": 100 });
    peer.call(json!({ "op": "manager", "manager": "m", "url": url, "opts": opts }))
        .await;
    peer.connect_on("m", "main", "/", json!({ "name": "main" }));
    peer.expect("main connects", is("main", "connect")).await;
    peer.connect_on("m", "other", "/other", json!({ "name": "other" }));
    peer.expect("other connects", is("other", "connect")).await;
    srv.expect("connect", logged("connect")).await;
    srv.expect("connect", logged("connect")).await;

    peer.emit("main", "kick_me", json!([false]));
    let d = peer
        .expect("main's disconnect", is("main", "disconnect"))
        .await;
    assert_eq!(d["reason"], "io server disconnect");
    assert_eq!(
        d["active"], false,
        "a server disconnect is not retried: {d}"
    );
    let s = srv.expect("server disconnect", logged("disconnect")).await;
    assert_eq!(s["reason"], "server namespace disconnect");
    assert_eq!(s["nsp"], "/");
    // The other namespace is unaffected.
    assert_eq!(
        peer.emit_ack_wait("other", "ping", json!([])).await,
        json!(["pong"])
    );

    peer.emit("other", "kick_me", json!([true]));
    let d = peer
        .expect("other's disconnect", is("other", "disconnect"))
        .await;
    assert_eq!(d["reason"], "io server disconnect");
    assert_eq!(d["active"], false);
    let s = srv.expect("server disconnect", logged("disconnect")).await;
    assert_eq!(s["reason"], "server namespace disconnect");
    assert_eq!(s["nsp"], "/other");
    peer.expect("the manager closes", is("m", "manager_close"))
        .await;

    // A reconnection would be a timer of 100 ms at most (reconnectionDelayMax), set when the
    // manager closed: a timer the client sets now with a longer delay fires after it would
    // have, and its answer comes after any "reconnect_attempt".
    peer.call(json!({ "op": "after", "ms": 200 })).await;
    peer.send(json!({ "op": "state", "id": "main" }));
    let st = peer.expect("state", is("main", "state")).await;
    assert_eq!(st["connected"], false);
    assert!(
        peer.inbox
            .drain_matching(|v| v["ev"] == "reconnect_attempt" || v["ev"] == "connect")
            .is_empty()
    );
    assert!(
        srv.drain_matching(logged("connect")).is_empty(),
        "nobody reconnected"
    );
    assert_eq!(io.engine().session_count(), 0);
}

/// Several namespaces over one Engine.IO session: one `open`, one server session for all
/// sockets, events routed by namespace, and leaving one namespace keeps the others.
pub async fn multiplexing(kind: Kind) {
    let (log, mut srv) = server_log();
    let io = io(Config::default());
    io.of("/admin").use_middleware(|s| async move {
        match s.handshake().auth.get("role").and_then(Value::as_str) {
            Some("admin") => Ok(()),
            _ => Err(ConnectError::new("admins only")),
        }
    });
    for nsp in ["/", "/chat", "/admin"] {
        let log = log.clone();
        io.ns(nsp, move |socket| {
            let log = log.clone();
            async move {
                log_connect(&socket, &log);
                log_disconnect(&socket, &log);
                socket.on("which", |s, mut e| async move {
                    e.ack((s.ns().name(), s.session_id()));
                });
            }
        });
    }
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;
    peer.call(json!({ "op": "manager", "manager": "m", "url": url, "opts": {} }))
        .await;
    let mut ids = Vec::new();
    for (id, nsp) in [("root", "/"), ("chat", "/chat"), ("admin", "/admin")] {
        peer.connect_on("m", id, nsp, json!({ "name": id, "role": "admin" }));
        let c = peer.expect("connect", is(id, "connect")).await;
        ids.push(c["sid"].as_str().unwrap().to_owned());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "one socket per namespace");
    let open = peer.expect("open", is("m", "open")).await;
    let session = open["sid"].as_str().unwrap().to_owned();
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(srv.expect("connect", logged("connect")).await["session"].clone());
    }
    assert!(
        sessions.iter().all(|s| *s == session),
        "{sessions:?} vs {session}"
    );
    assert_eq!(io.engine().session_count(), 1);

    for (id, nsp) in [("root", "/"), ("chat", "/chat"), ("admin", "/admin")] {
        assert_eq!(
            peer.emit_ack_wait(id, "which", json!([])).await,
            json!([nsp, session])
        );
    }
    // One session, one order: a news item sent before the marks would arrive before them.
    io.of("/chat").emit("news", "chat only");
    for nsp in ["/", "/chat", "/admin"] {
        io.of(nsp).emit("mark", nsp);
    }
    for id in ["root", "chat", "admin"] {
        peer.expect("mark", event(id, "mark")).await;
    }
    let news = peer.inbox.drain_matching(|v| v["event"] == "news");
    assert_eq!(news.len(), 1, "{news:?}");
    assert_eq!(news[0]["id"], "chat");

    peer.send(json!({ "op": "disconnect", "id": "chat" }));
    let d = peer.expect("chat leaves", is("chat", "disconnect")).await;
    assert_eq!(d["reason"], "io client disconnect");
    let s = srv.expect("chat leaves", logged("disconnect")).await;
    assert_eq!(s["nsp"], "/chat");
    assert_eq!(s["reason"], "client namespace disconnect");
    for (id, nsp) in [("root", "/"), ("admin", "/admin")] {
        assert_eq!(
            peer.emit_ack_wait(id, "which", json!([])).await,
            json!([nsp, session])
        );
    }
    assert_eq!(io.engine().session_count(), 1);
    eventually("/chat to be empty", || io.of("/chat").socket_count() == 0).await;
    assert!(srv.drain_matching(logged("disconnect")).is_empty());

    // The same client socket joins /chat again, on the same session, as a new socket.
    peer.send(json!({ "op": "reconnect", "id": "chat" }));
    let c = peer.expect("chat is back", is("chat", "connect")).await;
    assert!(
        !ids.contains(&c["sid"].as_str().unwrap().to_owned()),
        "a new socket id: {c}"
    );
    let s = srv.expect("chat is back", logged("connect")).await;
    assert_eq!(s["nsp"], "/chat");
    assert_eq!(s["session"], session);
    assert_eq!(
        peer.emit_ack_wait("chat", "which", json!([])).await,
        json!(["/chat", session])
    );
    assert_eq!(io.of("/chat").socket_count(), 1);
}

/// `maxPayload`: a message just under it goes through; one over it closes the session, on
/// both ends.
pub async fn large_payload(kind: Kind, transport: &str) {
    const MAX: usize = 100_000;
    let (log, mut srv) = server_log();
    let io = io(Config::default().engine(engine().max_payload(MAX)));
    io.ns("/", move |socket| {
        let log = log.clone();
        async move {
            log_connect(&socket, &log);
            log_disconnect(&socket, &log);
            socket.on("download", |s, e| async move {
                let n: usize = e.arg(0).unwrap();
                s.emit("download", "y".repeat(n));
            });
            socket.on("big", |_, mut e| async move {
                let len = e.json(0).and_then(Value::as_str).map_or(0, str::len);
                e.ack(json!(len));
            });
        }
    });
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;
    peer.connected(
        "c",
        &url,
        "/",
        json!({ "transports": [transport] }),
        Value::Null,
    )
    .await;
    srv.expect("connect", logged("connect")).await;

    // `42["big","xxx…"]` (plus the `4` of polling): under MAX by a few bytes.
    let near = MAX - 20;
    let got = peer
        .emit_ack_wait("c", "big", json!([{ "$repeat": ["x", near] }]))
        .await;
    assert_eq!(got, json!([near]));

    // maxPayload limits what the server accepts, not what it sends.
    peer.emit("c", "download", json!([2_000_000]));
    let down = peer.expect("download", event("c", "download")).await;
    assert_eq!(down["args"][0].as_str().map(str::len), Some(2_000_000));

    peer.emit_ack("c", "big", json!([{ "$repeat": ["x", MAX + 10] }]), "over");
    let d = peer
        .expect("the client's disconnect", is("c", "disconnect"))
        .await;
    let s = srv
        .expect("the server's disconnect", logged("disconnect"))
        .await;
    assert_eq!(s["reason"], "transport error", "{s}");
    if transport == "websocket" {
        // The server closes the WebSocket (1009).
        assert_eq!(d["reason"], "transport close", "{d}");
    } else {
        // The server answers the POST 413 and closes the session, so the waiting GET gets
        // `1`: the client reports whichever of the two it reads first.
        assert!(
            d["reason"] == "transport close" || d["reason"] == "transport error",
            "{d}"
        );
    }
    assert!(
        peer.inbox.drain_matching(answer("over")).is_empty(),
        "the oversized event was not handled"
    );
    assert_eq!(io.engine().session_count(), 0);
}

/// The CONNECT's `auth` and the handshake's query reach the server, per namespace.
pub async fn auth_and_query(kind: Kind) {
    let (log, mut srv) = server_log();
    let io = io(Config::default());
    for nsp in ["/", "/second"] {
        let log = log.clone();
        io.ns(nsp, move |socket| {
            let log = log.clone();
            async move {
                let req = &socket.handshake().request;
                log.note(json!({
                    "ev": "connect", "nsp": socket.ns().name(),
                    "auth": Value::Object(socket.handshake().auth.clone()),
                    "room": req.query("room"), "x": req.query("x"), "eio": req.query("EIO"),
                }));
            }
        });
    }
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;
    let auth = json!({ "token": "abc", "n": 1, "nested": { "list": [1, "two", null, true] }, "u": "ü 😀" });
    let opts = json!({ "query": { "room": "lobby", "x": "a b&c=d/é" } });
    peer.call(json!({ "op": "manager", "manager": "m", "url": url, "opts": opts }))
        .await;
    peer.connect_on("m", "first", "/", auth.clone());
    peer.expect("connect", is("first", "connect")).await;
    let s = srv.expect("connect", logged("connect")).await;
    assert_eq!(s["auth"], auth);
    assert_eq!(s["room"], "lobby");
    assert_eq!(s["x"], "a b&c=d/é");
    assert_eq!(s["eio"], "4");
    peer.connect_on("m", "second", "/second", json!({ "other": "auth" }));
    peer.expect("connect", is("second", "connect")).await;
    let s = srv.expect("connect", logged("connect")).await;
    assert_eq!(s["nsp"], "/second");
    assert_eq!(s["auth"], json!({ "other": "auth" }));
    // No auth at all: an empty object.
    peer.connected("bare", &url, "/second", json!({}), Value::Null)
        .await;
    let s = srv.expect("connect", logged("connect")).await;
    assert_eq!(s["auth"], json!({}));
}

/// The page is served from `http://localhost:PORT` and the clients connect to
/// `http://127.0.0.1:PORT`: cross-origin long-polling sessions. With `Cors::any()` and
/// credentials allowed they work, also with custom headers (a preflight) and with
/// `withCredentials`; the server sees the page's Origin. Without CORS headers, or with
/// `withCredentials` but credentials not allowed, the browser refuses the answers.
pub async fn cors(kind: Kind) {
    assert_eq!(kind, Kind::Chromium, "CORS is what browsers enforce");
    let (log, mut srv) = server_log();
    let with = io(Config::default().engine(engine().cors(Cors::any().credentials(true))));
    with.ns("/", move |socket| {
        let log = log.clone();
        async move {
            let header = |name: &str| {
                socket
                    .handshake()
                    .request
                    .headers()
                    .get(name)
                    .and_then(|o| o.to_str().ok())
                    .map(str::to_owned)
            };
            log.note(json!({
                "ev": "connect", "origin": header("origin"), "x-token": header("x-token"),
            }));
            on_echo(&socket);
        }
    });
    let without = io(Config::default());
    let no_credentials = io(Config::default().engine(engine().cors(Cors::any())));
    let url_with = serve(with.clone()).await;
    let url_without = serve(without.clone()).await;
    let url_no_credentials = serve(no_credentials.clone()).await;

    let page = url_with.replace("127.0.0.1", "localhost");
    let mut peer = Peer::chromium(&format!("{page}/")).await;
    let cases = [
        ("plain", json!({ "transports": ["polling"] })),
        (
            "header",
            json!({ "transports": ["polling"], "extraHeaders": { "x-token": "abc" } }),
        ),
        (
            "credentials",
            json!({ "transports": ["polling"], "withCredentials": true }),
        ),
    ];
    for (id, opts) in cases {
        peer.connected(id, &url_with, "/", opts, Value::Null).await;
        let s = srv.expect("connect", logged("connect")).await;
        assert_eq!(s["origin"], page, "{id}: {s}");
        let token = if id == "header" {
            json!("abc")
        } else {
            Value::Null
        };
        assert_eq!(s["x-token"], token, "{id}: {s}");
        let msg = json!([format!("{id} across origins")]);
        assert_eq!(peer.emit_ack_wait(id, "echo", msg.clone()).await, msg);
    }

    for (id, url, opts) in [
        (
            "blocked",
            &url_without,
            json!({ "transports": ["polling"] }),
        ),
        (
            "no-credentials",
            &url_no_credentials,
            json!({ "transports": ["polling"], "withCredentials": true }),
        ),
    ] {
        peer.connect(id, url, "/", opts, Value::Null);
        let e = peer.expect("connect_error", is(id, "connect_error")).await;
        assert_eq!(e["message"], "xhr poll error", "{id}: {e}");
    }
    // The servers answered the handshakes; the browser refused to let the page read them.
    assert_eq!(without.engine().session_count(), 1);
    assert_eq!(no_credentials.engine().session_count(), 1);
}

/// Heartbeats: with a short ping interval, idle sessions on both transports answer the
/// server's pings and stay up for several intervals.
pub async fn heartbeat(kind: Kind) {
    let (log, mut srv) = server_log();
    let interval = Duration::from_millis(150);
    let io =
        io(Config::default().engine(engine().heartbeat(interval, Duration::from_millis(1000))));
    io.ns("/", move |socket| {
        let log = log.clone();
        async move {
            log_connect(&socket, &log);
            log_disconnect(&socket, &log);
            socket.on("ping?", |_, mut e| async move {
                e.ack("pong!");
            });
        }
    });
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;
    for t in ["polling", "websocket"] {
        peer.connected(t, &url, "/", json!({ "transports": [t] }), Value::Null)
            .await;
    }
    // Stay idle but for an ack after each ping, until each session had four pings. The server
    // sends its next ping only once the last one was answered: the fourth ping means the
    // first three pongs came back.
    for round in 1..=4 {
        for t in ["polling", "websocket"] {
            peer.expect(&format!("{t}'s ping {round}"), is(t, "ping"))
                .await;
            assert_eq!(
                peer.emit_ack_wait(t, "ping?", json!([])).await,
                json!(["pong!"])
            );
        }
    }
    for t in ["polling", "websocket"] {
        peer.send(json!({ "op": "state", "id": t }));
        assert_eq!(
            peer.expect("state", is(t, "state")).await["connected"],
            true
        );
    }
    assert!(
        peer.inbox
            .drain_matching(|v| v["ev"] == "disconnect")
            .is_empty()
    );
    assert!(srv.drain_matching(logged("disconnect")).is_empty());
    assert_eq!(io.engine().session_count(), 2);
}

/// The server closes every session: clients on both transports see "transport close", reconnect
/// by themselves (a new handshake), and the server sees them connect again.
pub async fn server_close_and_reconnect(kind: Kind) {
    let (log, mut srv) = server_log();
    let io = io(Config::default());
    io.ns("/", move |socket| {
        let log = log.clone();
        async move {
            log_connect(&socket, &log);
            log_disconnect(&socket, &log);
            on_echo(&socket);
        }
    });
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;
    let mut first = Vec::new();
    for t in ["polling", "websocket"] {
        let opts = json!({
            "transports": [t], "reconnection": true, "reconnectionDelay": 50,
            "reconnectionDelayMax": 100,
        });
        let c = peer
            .connected(t, &url, "/", opts, json!({ "name": t }))
            .await;
        first.push(c["sid"].clone());
        srv.expect("connect", logged("connect")).await;
    }
    io.close();
    for t in ["polling", "websocket"] {
        let d = peer.expect("disconnect", is(t, "disconnect")).await;
        assert_eq!(d["reason"], "transport close", "{d}");
        assert_eq!(d["active"], true, "it will reconnect: {d}");
    }
    for _ in 0..2 {
        let s = srv.expect("disconnect", logged("disconnect")).await;
        assert_eq!(s["reason"], "server shutting down", "{s}");
    }
    for t in ["polling", "websocket"] {
        peer.expect("reconnect_attempt", is(t, "reconnect_attempt"))
            .await;
        let c = peer.expect("reconnect", is(t, "connect")).await;
        assert!(!first.contains(&c["sid"]), "a new socket: {c}");
        assert_eq!(c["transport"], t);
        assert_eq!(
            peer.emit_ack_wait(t, "echo", json!(["again"])).await,
            json!(["again"])
        );
    }
    let mut names: Vec<String> = srv
        .drain_matching(logged("connect"))
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["polling", "websocket"]);
    assert_eq!(io.engine().session_count(), 2);
}

/// Streams both ways at once on one transport, binary attachments mixed in: the server's
/// paced stream, the client's burst (many packets per polling payload) and the client's paced
/// stream all arrive complete and in order.
pub async fn streams_both_ways(kind: Kind, transport: &str) {
    const DOWN: u64 = 300;
    const BURST: u64 = 150;
    const PACED: u64 = 100;
    let (log, mut srv) = server_log();
    let io = io(Config::default());
    io.ns("/", move |socket| {
        let log = log.clone();
        async move {
            for ev in ["burst", "paced"] {
                let l = log.clone();
                socket.on(ev, move |_, e| {
                    l.note(json!({ "ev": ev, "args": marked_args(&e.args) }));
                    async {}
                });
                let l = log.clone();
                socket.on(format!("{ev}_end"), move |_, e| {
                    l.note(json!({ "ev": format!("{ev}_end"), "n": e.json(0).cloned() }));
                    async {}
                });
            }
            socket.on("start_down", |s, _| async move {
                tokio::spawn(async move {
                    for i in 0..DOWN {
                        if i % 3 == 0 {
                            s.emit("down", (i, Bytes::from(vec![(i % 256) as u8; 3])));
                        } else {
                            s.emit("down", i);
                        }
                        if i % 10 == 0 {
                            // Pacing, not synchronization: a stream spread over time.
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                    s.emit("down_end", DOWN);
                });
            });
        }
    });
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;
    let opts = json!({ "transports": [transport] });
    peer.connected("c", &url, "/", opts, Value::Null).await;
    peer.emit("c", "start_down", json!([]));
    peer.send(json!({ "op": "stream", "id": "c", "event": "burst", "count": BURST, "every_ms": 0, "binary": true }));
    peer.send(json!({ "op": "stream", "id": "c", "event": "paced", "count": PACED, "every_ms": 1, "binary": true }));

    peer.expect("down_end", event("c", "down_end")).await;
    let down = peer.inbox.drain_matching(event("c", "down"));
    assert_eq!(down.len() as u64, DOWN);
    for (i, v) in down.iter().enumerate() {
        let i = i as u64;
        let want = if i % 3 == 0 {
            json!([i, { "$bin": super::hex(&[(i % 256) as u8; 3]) }])
        } else {
            json!([i])
        };
        assert_eq!(v["args"], want, "down #{i}");
    }
    for (ev, n) in [("burst", BURST), ("paced", PACED)] {
        let end = srv.expect(ev, logged(&format!("{ev}_end"))).await;
        assert_eq!(end["n"], n);
        let got = srv.drain_matching(logged(ev));
        assert_eq!(got.len() as u64, n, "{ev}");
        for (i, v) in got.iter().enumerate() {
            let want = json!([i, { "$bin": format!("{:02x}", i % 256) }]);
            assert_eq!(v["args"], want, "{ev} #{i}");
        }
    }
    assert_eq!(
        transport_name(io.of("/").sockets()[0].transport()),
        transport
    );
}

/// Connection state recovery: the connection drops, the room keeps talking, the client
/// reconnects by itself and gets its socket id back (`socket.recovered`) and, in order, the
/// events it missed; the server's handler sees `recovered()` and the rooms came back.
pub async fn recovery(kind: Kind, transport: &str) {
    let (log, mut srv) = server_log();
    let io = io(Config::default().recovery(wsx_socketio::RecoveryConfig::default()));
    io.ns("/", move |socket| {
        let log = log.clone();
        async move {
            // Join first: the test broadcasts to `news` as soon as it sees this connect.
            if !socket.recovered() {
                socket.join(["news"]);
            }
            log_disconnect(&socket, &log);
            log.note(
                json!({ "ev": "connect", "id": socket.id(), "recovered": socket.recovered() }),
            );
        }
    });
    let url = serve(io.clone()).await;
    let mut peer = Peer::start(kind, &url).await;
    // The client reconnects by itself after a second: a session is only recoverable once the
    // server has seen its connection close, and with a reconnection delay of 50 ms a loaded
    // machine (CI runs the Chromium tests side by side) let the client's new CONNECT arrive
    // before the server had read the old connection's close.
    let opts = json!({
        "transports": [transport], "reconnection": true, "reconnectionDelay": 1000,
        "reconnectionDelayMax": 1000, "randomizationFactor": 0,
    });
    let c = peer.connected("c", &url, "/", opts, json!({})).await;
    let first = srv.expect("connect", logged("connect")).await;
    assert_eq!(first["recovered"], false);
    assert_eq!(c["recovered"], false);

    io.to(["news"]).emit("tick", 1);
    let e = peer.expect("tick 1", event("c", "tick")).await;
    assert_eq!(e["args"][0], 1, "{e}");
    assert!(
        e["args"][1].is_string(),
        "the offset rides as the last argument: {e}"
    );

    peer.send(json!({ "op": "drop_engine", "manager": "c" }));
    let gone = srv.expect("disconnect", logged("disconnect")).await;
    assert_eq!(gone["reason"], "transport close", "{gone}");
    for i in 2..=4 {
        io.to(["news"]).emit("tick", i);
    }
    let back = peer.expect("reconnect", is("c", "connect")).await;
    assert_eq!(back["recovered"], true, "{back}");
    assert_eq!(back["sid"], c["sid"], "the same socket id");
    for i in 2..=4 {
        let e = peer.expect("a missed tick", event("c", "tick")).await;
        assert_eq!(e["args"][0], i, "missed events in order: {e}");
    }
    let again = srv.expect("connect", logged("connect")).await;
    assert_eq!(again["recovered"], true);
    assert_eq!(again["id"], first["id"]);
    // The rooms came back with it.
    io.to(["news"]).emit("tick", 5);
    let e = peer.expect("tick 5", event("c", "tick")).await;
    assert_eq!(e["args"][0], 5, "{e}");
}
