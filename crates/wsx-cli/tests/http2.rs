//! WebSockets over HTTP/2 (RFC 8441) in `wsx serve`, driven by Node's own `http2` client
//! (`interop/node/h2_ws_client.js`): cleartext with prior knowledge (h2c) and TLS with ALPN
//! `h2`, several WebSockets as streams of one connection, the negative cases, and the server's
//! count of them; and by headless Chromium, whose demo page over HTTPS opens its WebSockets
//! as HTTP/2 streams (`interop/chromium/h2.mjs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::process::Command;

mod common;

use common::procs::interop_dir;
use common::{Kill, ServeProc};

/// Runs `node interop/node/SCRIPT ARGS` (Node's own http2 module: no npm package needed),
/// which prints one JSON line: that report.
fn node_json(script: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new("node")
        .arg(interop_dir().join("node").join(script))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node {script}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

/// `streams` WebSockets to `path` as streams of one HTTP/2 connection to `url`, then the
/// negative cases (`interop/node/h2_ws_client.js`).
fn node_client(url: &str, path: &str, streams: usize) -> serde_json::Value {
    node_json("h2_ws_client.js", &[url, path, &streams.to_string()])
}

fn serve(args: &[&str]) -> (ServeProc, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut all: Vec<&OsStr> = vec!["--data-dir".as_ref(), data.path().as_os_str()];
    all.extend(args.iter().map(OsStr::new));
    (ServeProc::start(0, &all), data)
}

#[test]
fn node_http2_client_gets_websockets_as_streams_over_h2c() {
    let (s, _data) = serve(&[]);
    let report = node_client(&format!("http://127.0.0.1:{}", s.port), "/echo", 5);
    assert_eq!(report["alpn"], "h2c", "{report}");
    assert_eq!(report["streams"], 5, "{report}");
    // RFC 8441 §4: :protocol other than websocket; RFC 6455 §4.2.1 carried over: no version.
    assert_eq!(report["unknownProtocol"], 400, "{report}");
    assert_eq!(report["noVersion"], 426, "{report}");
    let text = common::metrics(s.port);
    assert!(
        text.contains("wsx_connections_http2_total 5"),
        "five WebSockets arrived as HTTP/2 streams:\n{text}"
    );
    assert!(
        text.contains("wsx_connections_closed_total{code=\"1000\"} 5"),
        "{text}"
    );
}

/// `wsx serve` with a self-signed certificate for localhost (kept in the returned directory).
fn serve_tls() -> (ServeProc, tempfile::TempDir, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
    let (s, data) = serve(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    (s, data, dir)
}

#[test]
fn chromium_opens_the_demo_pages_websockets_as_http2_streams() {
    let root = interop_dir();
    assert!(
        root.join("node_modules/playwright-core").is_dir()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "playwright-core or /usr/bin/chromium is missing: run interop/setup.sh"
    );
    let (s, _data, _certs) = serve_tls();
    let shot = root.parent().unwrap().join("target/e2e/h2.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let mut node = Kill(
        Command::new("node")
            .arg(root.join("chromium/h2.mjs"))
            .arg(format!("https://localhost:{}", s.port))
            .arg(&shot)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (mut seen, mut protocols, mut engine) = (None, None, None);
    let steps = common::follow_steps(&mut node, |step, line, _| {
        let v = || serde_json::from_str::<serde_json::Value>(line).unwrap();
        match step {
            "metrics" => seen = Some(v()),
            "protocols" => protocols = Some(v()),
            "engine-io" => engine = Some(v()),
            _ => {}
        }
    });
    common::assert_steps(
        &steps,
        &[
            "both-joined",
            "message-delivered",
            "screenshot",
            "engine-io",
            "pad-synced",
            "protocols",
            "metrics",
            "done",
        ],
    );
    // socket.io-client connected by long-polling and upgraded to its WebSocket.
    let e = engine.unwrap();
    assert_eq!(
        (e["first"].as_str(), e["upgraded"].as_str()),
        (Some("polling"), Some("websocket")),
        "{e}"
    );
    // Every HTTP response the pages got came over HTTP/2: the pages, and Socket.IO's Engine.IO
    // polling before its upgrade.
    let p = protocols.unwrap();
    for kind in ["demo page", "pad page", "engine.io polling"] {
        assert_eq!(p[kind], serde_json::json!(["h2"]), "{kind}: {p}");
    }
    let m = seen.unwrap();
    // alice's /chat, bob's Socket.IO WebSocket, socket.io-client's upgrade and the two pad
    // pages' at least; every one of them came as a stream of an HTTP/2 connection, none as an
    // HTTP/1.1 upgrade.
    assert!(m["accepted"].as_u64().unwrap() >= 5, "{m}");
    assert_eq!(m["http2"], m["accepted"], "{m}");
}

#[test]
fn node_http2_client_gets_websockets_over_tls_with_alpn_h2() {
    let (s, _data, _certs) = serve_tls();
    let report = node_client(&format!("https://localhost:{}", s.port), "/echo", 3);
    assert_eq!(report["alpn"], "h2", "{report}");
    assert_eq!(report["streams"], 3, "{report}");
    assert_eq!(report["unknownProtocol"], 400, "{report}");
}

/// `interop/node/h2_abuse.js URL MODE ARGS`.
fn node_abuse(url: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec![url];
    all.extend_from_slice(args);
    node_json("h2_abuse.js", &all)
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn rapid_reset_of_websocket_streams_leaves_the_server_serving_within_bounds() {
    let (s, _data) = serve(&[]);
    let url = format!("http://127.0.0.1:{}", s.port);
    // Warm up, so that what the abuse adds is what is measured.
    node_client(&url, "/echo", 3);
    let before = rss_kib(s.child.0.id());
    for _ in 0..3 {
        let report = node_abuse(&url, &["reset", "5000"]);
        assert_eq!(report["ok"], true, "{report}");
    }
    // Others are served as before, on new connections and old.
    let report = node_client(&url, "/echo", 5);
    assert_eq!(report["streams"], 5, "{report}");
    let grown = rss_kib(s.child.0.id()).saturating_sub(before);
    assert!(
        grown < 32 << 10,
        "15,000 reset streams grew the server by {grown} KiB"
    );
    // Some were accepted before their reset arrived: each such connection ends at the reset,
    // none stays open.
    let text = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let p = common::Patience::new("no WebSocket left open");
            loop {
                let text = common::metrics(s.port);
                if text.lines().any(|l| l == "wsx_connections_open 0") {
                    break text;
                }
                p.again().await;
            }
        });
    let count = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap()
    };
    assert!(count("wsx_connections_http2_total") >= 8, "{text}");
    assert_eq!(
        count("wsx_connections_http2_total"),
        count("wsx_connections_accepted_total"),
        "{text}"
    );
}

#[test]
fn a_stream_that_does_not_read_holds_up_no_other_stream_of_its_connection() {
    let (s, _data) = serve(&[]);
    let report = node_abuse(&format!("http://127.0.0.1:{}", s.port), &["stall"]);
    assert_eq!(report["trips"], 50, "{report}");
    // The stalled stream's echoes wait in HTTP/2 flow control: most of its 4 MiB is still
    // unsent on the client's side.
    assert!(report["a_buffered"].as_u64().unwrap() > 1 << 20, "{report}");
}
