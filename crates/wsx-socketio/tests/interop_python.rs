//! Interop with `python-socketio` (the official Python port of the client, sync flavour, on
//! `requests` and `websocket-client`): `interop/python/sio_client.py` runs a fixed scenario
//! against an in-process wsx server over each transport — two namespaces on one session,
//! `auth`, acks both ways, binary both ways, a room broadcast — and both ends are asserted.
//! Installed by `interop/setup.sh`; without it these tests fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use wsx_socketio::{Data, SocketIo};

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../interop")
        .canonicalize()
        .unwrap()
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Value>>>);
impl Log {
    fn push(&self, v: Value) {
        self.0.lock().unwrap().push(v);
    }
}

async fn server(log: Log) -> String {
    let io = SocketIo::new(Default::default());
    let l = log.clone();
    io.ns("/", move |socket| {
        let l = l.clone();
        async move {
            l.push(
                json!({"ev": "connect", "auth": Value::Object(socket.handshake().auth.clone())}),
            );
            socket.emit("welcome", socket.handshake().auth.clone());
            socket.on("sum", |_, mut e| async move {
                let (a, b): (i64, i64) = (e.arg(0).unwrap(), e.arg(1).unwrap());
                e.ack(a + b);
            });
            socket.on("bin", |socket, e| async move {
                let hex = e
                    .binary(0)
                    .map(|b| b.iter().map(|x| format!("{x:02x}")).collect::<String>());
                assert_eq!(hex.as_deref(), Some("000102ff"), "binary arrives as binary");
                socket.emit("bin", e.args);
            });
            socket.on("start", move |socket, _| {
                let l = l.clone();
                async move {
                    let answer = socket
                        .emit_with_ack("ask", "life?")
                        .timeout(Duration::from_secs(10))
                        .await;
                    let args: Vec<Value> = answer
                        .unwrap()
                        .into_iter()
                        .map(|d| match d {
                            Data::Json(v) => v,
                            other => panic!("not JSON: {other:?}"),
                        })
                        .collect();
                    l.push(json!({"ev": "answer", "args": args}));
                }
            });
        }
    });
    io.ns("/news", |socket| async move {
        socket.join(["readers"]);
        socket.on("subscribe", |socket, _| async move {
            socket.ns().to(["readers"]).emit("news", ("extra", 1));
        });
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(io.serve(listener));
    url
}

async fn scenario(transport: &str) {
    let log = Log::default();
    let url = server(log.clone()).await;
    let python = interop_dir().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run interop/setup.sh (the README's test command does)",
        python.display()
    );
    let mut child = tokio::process::Command::new(python)
        .arg(interop_dir().join("python/sio_client.py"))
        .args([&url, transport])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            eprintln!("python: {line}");
            out.push(serde_json::from_str::<Value>(&line).unwrap());
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the Python client hung");
    let status = child.wait().await.unwrap();
    let find = |ev: &str| -> Value {
        out.iter()
            .find(|v| v["ev"] == ev)
            .cloned()
            .unwrap_or_else(|| panic!("no {ev} in {out:?}"))
    };
    assert_eq!(find("connect")["transport"], transport);
    assert_eq!(find("welcome")["data"], json!({"user": "py"}));
    assert_eq!(find("sum")["result"], 5);
    assert_eq!(find("bin")["hex"], "000102ff");
    assert_eq!(find("bin")["type"], "bytes");
    assert_eq!(find("ask")["question"], "life?");
    assert_eq!(find("news")["args"], json!(["extra", 1]));
    assert_eq!(
        find("transport")["transport"],
        transport,
        "no upgrade asked"
    );
    assert_eq!(find("done")["ok"], true);
    assert!(status.success());
    let server = log.0.lock().unwrap().clone();
    assert!(
        server.contains(&json!({"ev": "connect", "auth": {"user": "py"}})),
        "{server:?}"
    );
    assert!(
        server.contains(&json!({"ev": "answer", "args": ["answer to life?"]})),
        "{server:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_socketio_over_polling() {
    scenario("polling").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_socketio_over_websocket() {
    scenario("websocket").await;
}
