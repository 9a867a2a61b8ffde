//! `wsx bench` against in-process wsx echo servers: closed and open loop, text and binary,
//! deflate, a server that corrupts echoes, an unreachable server and bad flags.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use wsx::{Connected, DeflateConfig, Message, Server, Utf8Bytes};

/// Starts an echo server on 127.0.0.1:0 on its own runtime thread. With `corrupt_every`
/// = Some(n), every n-th echo of a connection has one byte flipped (staying ASCII).
fn echo_server(corrupt_every: Option<u64>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = Server::builder()
                .deflate(Some(DeflateConfig::default()))
                .bind("127.0.0.1:0")
                .await
                .unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            server
                .serve(move |mut c: Connected| async move {
                    let mut n = 0u64;
                    while let Some(Ok(msg)) = c.ws.recv().await {
                        n += 1;
                        let corrupt = corrupt_every.is_some_and(|k| n.is_multiple_of(k));
                        let reply = match msg {
                            Message::Text(t) if corrupt => {
                                Message::Text(Utf8Bytes::try_from(flip(t.as_bytes())).unwrap())
                            }
                            Message::Binary(b) if corrupt => Message::Binary(flip(&b).into()),
                            Message::Text(_) | Message::Binary(_) => msg,
                            _ => continue,
                        };
                        if c.ws.send(reply).await.is_err() {
                            break;
                        }
                    }
                })
                .await
                .unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

fn flip(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    if let Some(last) = v.last_mut() {
        *last ^= 1;
    }
    v
}

fn bench(args: &[&str]) -> (Output, Duration) {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_wsx"))
        .arg("bench")
        .args(args)
        .output()
        .unwrap();
    (out, t.elapsed())
}

fn json(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout:?}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/")
}

#[test]
fn closed_loop_text_reports_verified_throughput_and_latency() {
    let u = url(echo_server(None));
    let (out, took) = bench(&[
        &u,
        "-c",
        "4",
        "-s",
        "64",
        "-d",
        "1s",
        "--warmup",
        "0s",
        "--json",
        "--threads",
        "2",
    ]);
    assert!(out.status.success(), "{out:?}");
    let r = json(&out);
    assert_eq!(r["mode"], "closed");
    assert!(r["send_lag_us"].is_null(), "{r}");
    assert_eq!(r["connected"], 4);
    assert_eq!(r["binary"], false);
    let msgs = r["msgs"].as_u64().unwrap();
    assert!(msgs > 0, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["bytes"].as_u64().unwrap(), msgs * 64);
    assert!(r["msgs_per_sec"].as_f64().unwrap() > 0.0);
    let lat = &r["latency_us"];
    for k in ["p50", "p90", "p99", "p99_9", "max"] {
        assert!(lat[k].as_f64().unwrap() > 0.0, "latency {k} in {r}");
    }
    assert!(lat["p50"].as_f64() <= lat["p99"].as_f64());
    assert!(lat["p99"].as_f64() <= lat["max"].as_f64());
    assert_eq!(r["close_codes"]["1000"], 4, "{r}");
    assert!(r["client_cpu_percent"].as_f64().is_some());
    assert!(r["client_bound"].is_boolean());
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn table_has_the_numbers_people_read() {
    let u = url(echo_server(None));
    let (out, _) = bench(&[
        &u, "-c", "2", "-s", "20", "-d", "500ms", "--warmup", "200ms",
    ]);
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "2 connections",
        "20 B text",
        "closed loop",
        "deflate off",
        "msgs/s",
        "MB/s",
        "p50",
        "p99.9",
        "max",
        "errors       none",
        "close codes  1000 ×2",
        "client CPU",
    ] {
        assert!(table.contains(needle), "{needle:?} missing from:\n{table}");
    }
}

#[test]
fn binary_with_deflate_and_a_pipeline() {
    let u = url(echo_server(None));
    let (out, took) = bench(&[
        &u,
        "-c",
        "3",
        "-s",
        "1KiB",
        "-d",
        "1s",
        "--warmup",
        "200ms",
        "--binary",
        "--deflate",
        "--pipeline",
        "8",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let r = json(&out);
    assert_eq!(r["binary"], true);
    assert_eq!(r["deflate"], true);
    assert_eq!(r["deflate_negotiated"], 3, "{r}");
    assert_eq!(r["pipeline"], 8);
    assert!(r["msgs"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn open_loop_sends_at_the_rate_asked() {
    let u = url(echo_server(None));
    let (out, took) = bench(&[
        &u,
        "-c",
        "4",
        "-s",
        "32",
        "-d",
        "1s",
        "--warmup",
        "0s",
        "--rate",
        "200",
        "--json",
        "--threads",
        "3",
    ]);
    assert!(out.status.success(), "{out:?}");
    let r = json(&out);
    assert_eq!(r["mode"], "open");
    assert_eq!(r["rate"], 200);
    let msgs = r["msgs"].as_u64().unwrap();
    assert!((100..=300).contains(&msgs), "{r}");
    assert_eq!(
        r["sent"].as_u64().unwrap(),
        msgs,
        "every scheduled message came back: {r}"
    );
    assert_eq!(r["errors"], 0, "{r}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn corrupt_echoes_are_errors_not_throughput() {
    let u = url(echo_server(Some(2)));
    let (out, _) = bench(&[
        &u, "-c", "2", "-s", "40", "-d", "1s", "--warmup", "0s", "--json",
    ]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let r = json(&out);
    let msgs = r["msgs"].as_u64().unwrap();
    let sent = r["sent"].as_u64().unwrap();
    let corrupt = r["errors_by_kind"]["corrupt echo"].as_u64().unwrap();
    assert!(msgs > 0 && corrupt > 0, "{r}");
    // Every other echo is flipped: half of them count, the other half are errors.
    assert!(msgs.abs_diff(corrupt) <= 4, "{r}");
    assert!(msgs + corrupt <= sent, "{r}");
    assert_eq!(r["bytes"].as_u64().unwrap(), msgs * 40);
    assert!(r["errors"].as_u64().unwrap() >= corrupt);
    assert_eq!(r["exit_code"], 4);

    // Binary and every echo corrupt: nothing counts.
    let u = url(echo_server(Some(1)));
    let (out, _) = bench(&[
        &u, "-c", "1", "-s", "16", "-d", "300ms", "--warmup", "0s", "--binary", "--json",
    ]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let r = json(&out);
    assert_eq!(r["msgs"], 0, "{r}");
    assert_eq!(r["msgs_per_sec"], 0.0, "{r}");
    assert!(r["errors_by_kind"]["corrupt echo"].as_u64().unwrap() > 0);
}

#[test]
fn unreachable_server_exits_1_with_a_clear_message() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let u = format!("ws://127.0.0.1:{port}/");
    let (out, took) = bench(&[&u, "-c", "10", "-d", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "wsx bench: cannot connect to {u}: Connection refused"
        )),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert!(took < Duration::from_secs(5));
}

#[test]
fn bad_flags_exit_2() {
    for (args, needle) in [
        (&["ws://127.0.0.1:1/", "-c", "0"][..], "--connections"),
        (&["ws://127.0.0.1:1/", "-s", "abc"][..], "abc"),
        (&["ws://127.0.0.1:1/", "-d", "0s"][..], "--duration"),
        (&["ws://127.0.0.1:1/", "--pipeline", "0"][..], "--pipeline"),
        (&["ws://127.0.0.1:1/", "--rate", "0"][..], "--rate"),
        (&["ws://127.0.0.1:1/", "--idle", "0s"][..], "--idle"),
        (&["ws://127.0.0.1:1/", "--source", "nope"][..], "nope"),
        (
            &["ws://127.0.0.1:1/", "--source", "127.0.0.3-127.0.0.2"][..],
            "range",
        ),
        (
            &["wss://127.0.0.1:1/", "--source", "127.0.0.2"][..],
            "ws://",
        ),
    ] {
        let (out, _) = bench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// An echo server (on its own runtime thread) that records the address of every peer.
fn recording_server() -> (
    SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<SocketAddr>>>,
) {
    let peers = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = peers.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = Server::builder().bind("127.0.0.1:0").await.unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            server
                .serve(move |mut c: Connected| {
                    seen.lock().unwrap().push(c.peer_addr);
                    async move {
                        while let Some(Ok(msg)) = c.ws.recv().await {
                            if matches!(msg, Message::Text(_) | Message::Binary(_))
                                && c.ws.send(msg).await.is_err()
                            {
                                break;
                            }
                        }
                    }
                })
                .await
                .unwrap();
        });
    });
    (rx.recv_timeout(Duration::from_secs(10)).unwrap(), peers)
}

#[test]
fn idle_holds_connections_open_from_the_source_addresses() {
    let (addr, peers) = recording_server();
    let (out, took) = bench(&[
        &url(addr),
        "-c",
        "6",
        "--idle",
        "1s",
        "--source",
        "127.0.0.2-127.0.0.4",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let r = json(&out);
    assert_eq!(r["mode"], "idle", "{r}");
    assert_eq!(r["connected"], 6, "{r}");
    assert_eq!(r["msgs"], 0, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["close_codes"]["1000"], 6, "{r}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("6 connections open, idle for 1s"), "{err}");
    assert!(took >= Duration::from_secs(1), "took {took:?}");
    // The probe connection and the 6, from the three addresses in turn.
    let mut ips: Vec<String> = peers
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.ip().to_string())
        .collect();
    assert_eq!(ips.len(), 7, "{ips:?}");
    ips.sort();
    ips.dedup();
    assert_eq!(ips, ["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
}

#[test]
fn server_pid_gives_the_server_cpu_per_message() {
    // The echo server runs in this process: its CPU time is ours.
    let u = url(echo_server(None));
    let pid = std::process::id().to_string();
    let (out, _) = bench(&[
        &u,
        "-c",
        "4",
        "-d",
        "1s",
        "--warmup",
        "0s",
        "--server-pid",
        &pid,
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let r = json(&out);
    assert_eq!(
        r["server_pid"].as_u64(),
        Some(u64::from(std::process::id()))
    );
    if std::path::Path::new("/proc/self/stat").exists() {
        assert!(r["server_cpu_percent"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["server_cpu_us_per_msg"].as_f64().unwrap() > 0.0, "{r}");
    }
}

/// A broadcast server: every data message goes to every other client, encoded once
/// (`serve_events`, `Clients::broadcast_except`).
fn fanout_server() -> SocketAddr {
    struct Fan(wsx::Clients);
    impl wsx::Handler for Fan {
        type State = ();
        fn open(&self, _: &wsx::Conn<'_>, _: &http::Request<()>) {}
        fn message(&self, _: &mut (), conn: &wsx::Conn<'_>, msg: Message) {
            if msg.is_data() {
                self.0.broadcast_except(&msg, conn.id());
            }
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = Server::bind("127.0.0.1:0").await.unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            let clients = server.clients();
            server.serve_events(Fan(clients)).await.unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

#[test]
fn fanout_counts_every_delivery_checked_in_order() {
    let u = url(fanout_server());
    let (out, took) = bench(&[
        &u,
        "-c",
        "21",
        "--fanout",
        "--pipeline",
        "8",
        "-s",
        "32",
        "-d",
        "1s",
        "--warmup",
        "0s",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let r = json(&out);
    assert_eq!(r["mode"], "fanout");
    assert_eq!(r["errors"], 0, "{r}");
    let broadcasts = r["sent"].as_u64().unwrap();
    assert!(broadcasts > 0, "{r}");
    // Every broadcast of the measurement reached each of the 20 receivers once.
    assert_eq!(r["msgs"].as_u64().unwrap(), broadcasts * 20, "{r}");
    assert_eq!(r["bytes"].as_u64().unwrap(), broadcasts * 20 * 32, "{r}");
    assert!(r["latency_us"]["p50"].as_f64().unwrap() > 0.0, "{r}");
    assert_eq!(r["close_codes"]["1000"], 21, "{r}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

#[test]
fn fanout_against_an_echo_server_is_an_error() {
    // The publisher gets its messages back and the receivers get nothing.
    let u = url(echo_server(None));
    let (out, _) = bench(&[
        &u, "-c", "3", "--fanout", "-d", "1s", "--warmup", "0s", "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let r = json(&out);
    assert_eq!(r["msgs"], 0, "{r}");
    assert!(
        r["errors_by_kind"]["unexpected echo"].as_u64().unwrap() > 0,
        "{r}"
    );
    assert!(r["errors_by_kind"]["no echo"].as_u64().unwrap() > 0, "{r}");
}

#[test]
fn fanout_needs_a_receiver_and_a_closed_loop() {
    for args in [
        &["-c", "1", "--fanout"][..],
        &["-c", "4", "--fanout", "--rate", "100"],
        &["-c", "4", "--fanout", "--pipeline", "600"],
    ] {
        let mut a = vec!["ws://127.0.0.1:9/"];
        a.extend_from_slice(args);
        let (out, _) = bench(&a);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
}

/// A TLS echo server for `localhost` (its certificate's PEM returned) that refuses upgrades
/// without `x-token: secret` or without the subprotocol `bench.v1` offered, and records both.
fn checking_tls_server() -> (
    SocketAddr,
    String,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_pem = c.cert.pem();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
    let cfg = wsx::tls::server_config_from_pem_files(&cert, &key).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = Server::builder()
                .tls(cfg)
                .protocols(["bench.v1"])
                .verify(move |r| {
                    let token = r.headers().get("x-token").and_then(|v| v.to_str().ok());
                    log.lock()
                        .unwrap()
                        .push(format!("{token:?} {:?}", r.protocols));
                    if token == Some("secret") && r.protocols.iter().any(|p| p == "bench.v1") {
                        Ok(())
                    } else {
                        Err(wsx::Rejection::new(http::StatusCode::UNAUTHORIZED, "no\n"))
                    }
                })
                .bind("127.0.0.1:0")
                .await
                .unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            server
                .serve(|mut c: Connected| async move {
                    while let Some(Ok(msg)) = c.ws.recv().await {
                        if msg.is_data() && c.ws.send(msg).await.is_err() {
                            break;
                        }
                    }
                })
                .await
                .unwrap();
        });
    });
    (
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        cert_pem,
        seen,
    )
}

#[test]
fn headers_subprotocols_and_a_private_ca() {
    let (addr, cert, seen) = checking_tls_server();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert).unwrap();
    let url = format!("wss://localhost:{}/", addr.port());
    let ca = ca.to_str().unwrap();
    let common = ["-c", "2", "-d", "300ms", "--warmup", "0s", "--json"];
    let (out, _) = bench(
        &[
            &url[..],
            "--ca",
            ca,
            "-H",
            "X-Token: secret",
            "--protocol",
            "bench.v1",
        ]
        .iter()
        .chain(common.iter())
        .copied()
        .collect::<Vec<_>>(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    assert_eq!(r["connected"], 2, "{r}");
    assert!(r["msgs"].as_u64().unwrap() > 0, "{r}");
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|s| s == r#"Some("secret") ["bench.v1"]"#),
        "{:?}",
        seen.lock().unwrap()
    );
    // Without the token the server refuses: a connection error (exit 1).
    let (out, _) = bench(&[
        &url[..],
        "--ca",
        ca,
        "--protocol",
        "bench.v1",
        "-c",
        "1",
        "-d",
        "200ms",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without --ca the certificate is not trusted; with -k it is not checked.
    let (out, _) = bench(&[&url[..], "-c", "1", "-d", "200ms", "-H", "X-Token: secret"]);
    assert_eq!(out.status.code(), Some(1));
    let (out, _) = bench(
        &[
            &url[..],
            "-k",
            "-H",
            "X-Token: secret",
            "--protocol",
            "bench.v1",
        ]
        .iter()
        .chain(common.iter())
        .copied()
        .collect::<Vec<_>>(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Malformed flags are usage errors.
    for bad in [
        ["-H", "no colon"],
        ["--protocol", "a b"],
        ["--ca", "/nonexistent.pem"],
    ] {
        let (out, _) = bench(&[&url[..], bad[0], bad[1]]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{bad:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
