//! `wsx serve` as a user runs it: the real binary, plain HTTP requests and WebSocket clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use wsx::{ClientBuilder, CloseCode, Message};

mod common;

use common::{Patience, ServeProc};

/// `wsx serve` on a port of its own (it picks one: `--listen 127.0.0.1:0`) with its documents
/// in a temporary directory.
struct Server {
    proc: ServeProc,
    port: u16,
    _data: tempfile::TempDir,
}

fn serve(extra: &[&str]) -> Server {
    let data = tempfile::tempdir().unwrap();
    let mut args: Vec<&OsStr> = vec!["--data-dir".as_ref(), data.path().as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    let proc = ServeProc::start(0, &args);
    Server {
        port: proc.port,
        proc,
        _data: data,
    }
}

/// A plain HTTP/1.1 GET: (status, headers in lower case, body).
fn get(port: u16, path: &str) -> (u16, String, Vec<u8>) {
    request(port, "GET", path, "")
}

/// An HTTP/1.1 request with `headers`: (status, headers in lower case, body).
fn request(port: u16, method: &str, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    common::http_request(port, method, path, headers)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsx"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn defaults_serve_the_demo_page_health_and_metrics() {
    let s = serve(&[]);
    let (st, head, body) = get(s.port, "/");
    assert_eq!(st, 200);
    assert!(head.contains("content-type: text/html"));
    assert!(String::from_utf8_lossy(&body).contains("live chat"));
    let (st, head, _) = get(s.port, "/app.js");
    assert_eq!(st, 200);
    assert!(head.contains("content-type: text/javascript"));
    assert_eq!(get(s.port, "/healthz").0, 200);
    assert_eq!(get(s.port, "/nope").0, 404);
    for path in ["/chat", "/echo", "/yjs/room"] {
        let (st, head, _) = get(s.port, path);
        assert_eq!(st, 426, "a plain GET on the WebSocket endpoint {path}");
        assert!(head.contains("upgrade: websocket"), "{path}: {head}");
    }
    let (st, head, body) = get(s.port, "/metrics");
    assert_eq!(st, 200);
    assert!(head.contains("content-type: text/plain; version=0.0.4"));
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("# TYPE wsx_connections_open gauge"));
    assert!(text.contains("wsx_connections_accepted_total 0"));
}

#[test]
fn echo_endpoint_negotiates_subprotocol_and_deflate_and_metrics_count_it() {
    let s = serve(&[]);
    rt().block_on(async {
        let url = format!("ws://127.0.0.1:{}/echo", s.port);
        let (mut ws, _) = ClientBuilder::new(&url)
            .protocol("my.proto")
            .connect()
            .await
            .unwrap();
        assert_eq!(ws.protocol(), "my.proto");
        assert_eq!(ws.extensions(), "permessage-deflate");
        ws.send(Message::text("héllo")).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("héllo"));
        ws.close(4321u16, "done").await.unwrap();
        while ws.recv().await.is_some() {}
    });
    // The server counts the close once its side of the connection is done: no event tells
    // the client when, /metrics is asked again until it shows.
    rt().block_on(async {
        let p = Patience::new("/metrics to show the close");
        loop {
            let text = String::from_utf8(get(s.port, "/metrics").2).unwrap();
            if text.contains("wsx_connections_closed_total{code=\"4321\"} 1") {
                assert!(text.contains("wsx_connections_accepted_total 1"), "{text}");
                assert!(text.contains("wsx_messages_received_total 1"), "{text}");
                assert!(text.contains("wsx_messages_sent_total 1"), "{text}");
                assert!(text.contains("wsx_connections_open 0"), "{text}");
                assert!(
                    text.contains("wsx_handshake_duration_seconds_count 1"),
                    "{text}"
                );
                // "héllo" compressed, masked, and the close frame: on the wire, so > 0.
                assert!(metric(&text, "wsx_received_bytes_total") > 6, "{text}");
                break;
            }
            p.again().await;
        }
    });
}

type Ws = wsx::WebSocket<wsx::MaybeTlsStream>;

/// The next chat message that is not a presence update.
async fn next_chat(ws: &mut Ws) -> serde_json::Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(m.as_text().unwrap()).unwrap();
        if v["type"] != "presence" {
            return v;
        }
    }
}

#[test]
fn chat_rooms_deliver_to_members_only() {
    let s = serve(&[]);
    rt().block_on(async {
        let url = format!("ws://127.0.0.1:{}/chat", s.port);
        let mut socks = Vec::new();
        for (nick, room) in [("ann", "a"), ("ben", "a"), ("cid", "b")] {
            let (mut ws, _) = ClientBuilder::new(&url)
                .protocol("wsx.chat.v1")
                .connect()
                .await
                .unwrap();
            assert_eq!(ws.protocol(), "wsx.chat.v1");
            assert_eq!(next_chat(&mut ws).await["type"], "welcome");
            ws.send(Message::text(format!(
                r#"{{"type":"join","room":"{room}","nick":"{nick}"}}"#
            )))
            .await
            .unwrap();
            let joined = next_chat(&mut ws).await;
            assert_eq!(
                (joined["type"].as_str(), joined["room"].as_str()),
                (Some("joined"), Some(room))
            );
            socks.push(ws);
        }
        socks[1]
            .send(Message::text(r#"{"type":"say","text":"hi room a"}"#))
            .await
            .unwrap();
        for i in [0, 1] {
            let m = next_chat(&mut socks[i]).await;
            assert_eq!(
                (
                    m["type"].as_str(),
                    m["nick"].as_str(),
                    m["text"].as_str(),
                    m["room"].as_str()
                ),
                (Some("message"), Some("ben"), Some("hi room a"), Some("a"))
            );
        }
        // cid is in room b: the next thing it sees is its own message, not room a's.
        socks[2]
            .send(Message::text(r#"{"type":"say","text":"in b"}"#))
            .await
            .unwrap();
        let m = next_chat(&mut socks[2]).await;
        assert_eq!(
            (m["type"].as_str(), m["text"].as_str()),
            (Some("message"), Some("in b"))
        );
        socks[2].send(Message::text("{not json")).await.unwrap();
        assert_eq!(next_chat(&mut socks[2]).await["type"], "error");
        socks[2]
            .send(Message::text(r#"{"type":"say","text":""}"#))
            .await
            .unwrap();
        assert_eq!(
            next_chat(&mut socks[2]).await["type"],
            "error",
            "empty text is refused"
        );
    });
}

#[test]
fn static_dir_serves_files_with_types_and_refuses_traversal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.json"), "{\"a\":1}").unwrap();
    std::fs::write(dir.path().join("index.html"), "<p>mine</p>").unwrap();
    let secret = dir
        .path()
        .parent()
        .unwrap()
        .join(format!("wsx-secret-{}", std::process::id()));
    std::fs::write(&secret, "secret").unwrap();
    let s = serve(&["--static", dir.path().to_str().unwrap()]);
    let (st, head, body) = get(s.port, "/hello.json");
    assert_eq!(st, 200);
    assert!(head.contains("content-type: application/json"));
    assert_eq!(body, b"{\"a\":1}");
    assert_eq!(
        get(s.port, "/").2,
        b"<p>mine</p>",
        "the static index wins over the demo"
    );
    let name = secret.file_name().unwrap().to_str().unwrap();
    for path in [
        format!("/../{name}"),
        format!("/%2e%2e/{name}"),
        format!("/..%2f{name}"),
    ] {
        let (st, _, body) = get(s.port, &path);
        assert_ne!(body, b"secret", "{path} escaped the directory");
        assert_eq!(st, 404, "{path}");
    }
    assert_eq!(
        get(s.port, "/app.js").0,
        200,
        "the demo's files still fall back"
    );
    let _ = std::fs::remove_file(secret);
}

/// `--static` through tower-http's `ServeDir` and our ETags: conditional requests, ranges,
/// precompressed files, HEAD; the embedded demo with its own ETags and compressed on the fly.
#[test]
fn static_files_have_etags_ranges_precompressed_variants_and_compression() {
    let dir = tempfile::tempdir().unwrap();
    let text = "0123456789".repeat(100);
    std::fs::write(dir.path().join("big.txt"), &text).unwrap();
    std::fs::write(dir.path().join("big.txt.gz"), b"not really gzip").unwrap();
    let s = serve(&["--static", dir.path().to_str().unwrap()]);
    let header = |head: &str, name: &str| -> Option<String> {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
    };

    let (st, head, body) = get(s.port, "/big.txt");
    assert_eq!(st, 200);
    assert_eq!(body, text.as_bytes());
    assert!(header(&head, "last-modified").is_some(), "{head}");
    let etag = header(&head, "etag").expect("an etag");
    assert!(etag.starts_with("w/\"1000-"), "{etag}");
    // Lower-cased by `request`: the tag as sent is W/"…".
    let sent = etag.replacen("w/", "W/", 1);
    let (st, head, body) = request(
        s.port,
        "GET",
        "/big.txt",
        &format!("If-None-Match: {sent}\r\n"),
    );
    assert_eq!(st, 304, "{head}");
    assert!(body.is_empty());
    assert_eq!(header(&head, "etag").as_deref(), Some(etag.as_str()));
    let (st, _, _) = request(s.port, "GET", "/big.txt", "If-None-Match: \"other\"\r\n");
    assert_eq!(st, 200);

    let (st, head, body) = request(s.port, "GET", "/big.txt", "Range: bytes=10-19\r\n");
    assert_eq!(st, 206, "{head}");
    assert_eq!(body, b"0123456789");
    assert_eq!(
        header(&head, "content-range").as_deref(),
        Some("bytes 10-19/1000")
    );
    assert_eq!(
        header(&head, "etag").as_deref(),
        Some(etag.as_str()),
        "one tag for the file"
    );

    let (st, head, body) = request(s.port, "GET", "/big.txt", "Accept-Encoding: gzip\r\n");
    assert_eq!(st, 200);
    assert_eq!(header(&head, "content-encoding").as_deref(), Some("gzip"));
    assert_eq!(body, b"not really gzip", "the precompressed file, as is");
    assert_ne!(header(&head, "etag"), Some(etag.clone()), "its own tag");

    let (st, head, body) = request(s.port, "HEAD", "/big.txt", "");
    assert_eq!(st, 200);
    assert_eq!(header(&head, "content-length").as_deref(), Some("1000"));
    assert!(body.is_empty());

    // The embedded demo: a strong tag of its own, and gzip on the fly when asked.
    let (st, head, _) = get(s.port, "/app.js");
    assert_eq!(st, 200);
    let demo_tag = header(&head, "etag").expect("an etag");
    assert!(demo_tag.starts_with('"'), "{demo_tag}");
    let (st, _, _) = request(
        s.port,
        "GET",
        "/app.js",
        &format!("If-None-Match: {demo_tag}\r\n"),
    );
    assert_eq!(st, 304);
    let (st, head, _) = request(s.port, "GET", "/app.js", "Accept-Encoding: gzip\r\n");
    assert_eq!(st, 200);
    assert_eq!(
        header(&head, "content-encoding").as_deref(),
        Some("gzip"),
        "{head}"
    );
    let (st, head, _) = request(s.port, "POST", "/big.txt", "Content-Length: 0\r\n");
    assert_eq!(st, 405, "{head}");
}

#[test]
fn origin_allow_list_max_connections_and_max_payload() {
    let s = serve(&[
        "--origin",
        "https://ok.example",
        "--max-connections",
        "1",
        "--max-payload",
        "1KiB",
    ]);
    rt().block_on(async {
        let url = format!("ws://127.0.0.1:{}/echo", s.port);
        let bad = ClientBuilder::new(&url)
            .origin("https://evil.example")
            .connect()
            .await
            .unwrap_err();
        assert!(wsx::is_refused(&bad, 403), "{bad}");
        let (mut ws, _) = ClientBuilder::new(&url)
            .origin("https://ok.example")
            .connect()
            .await
            .unwrap();
        let full = ClientBuilder::new(&url)
            .origin("https://ok.example")
            .connect()
            .await
            .unwrap_err();
        assert!(wsx::is_refused(&full, 503), "{full}");
        ws.send(Message::binary(vec![0u8; 2048])).await.unwrap();
        match ws.recv().await {
            Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, CloseCode::TOO_BIG),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn wsx_variables_configure_serve_and_flags_win() {
    let data = tempfile::tempdir().unwrap();
    let mut s = ServeProc::start_with_env(
        &[
            ("WSX_LISTEN", "127.0.0.1:0".as_ref()),
            ("WSX_DATA_DIR", data.path().as_os_str()),
            ("WSX_MAX_PAYLOAD", "1KiB".as_ref()),
            (
                "WSX_ORIGINS",
                "https://a.example,https://b.example".as_ref(),
            ),
        ],
        &[],
    );
    let port = s.port;
    rt().block_on(async {
        let url = format!("ws://127.0.0.1:{port}/echo");
        for origin in ["https://a.example", "https://b.example"] {
            let (mut ws, _) = ClientBuilder::new(&url)
                .origin(origin)
                .connect()
                .await
                .unwrap();
            ws.send(Message::binary(vec![0u8; 2048])).await.unwrap();
            match ws.recv().await {
                Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, CloseCode::TOO_BIG),
                other => panic!("{other:?}"),
            }
        }
        let bad = ClientBuilder::new(&url)
            .origin("https://c.example")
            .connect()
            .await
            .unwrap_err();
        assert!(wsx::is_refused(&bad, 403), "{bad}");
    });
    s.child.signal("INT");
    assert!(s.wait_exit().success());
    // A flag wins over its variable (which alone would not even parse).
    let mut s = ServeProc::start_with_env(
        &[
            ("WSX_LISTEN", "not an address".as_ref()),
            ("WSX_DATA_DIR", data.path().as_os_str()),
        ],
        &["--listen", "127.0.0.1:0"],
    );
    assert_ne!(s.port, 0);
    s.child.signal("INT");
    assert!(s.wait_exit().success());
    let out = Command::new(env!("CARGO_BIN_EXE_wsx"))
        .arg("serve")
        .env("WSX_LISTEN", "not an address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an address"));
}

#[test]
fn tls_serves_https_and_wss() {
    let dir = tempfile::tempdir().unwrap();
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
    let s = serve(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    rt().block_on(async {
        let url = format!("wss://localhost:{}/echo", s.port);
        let trust = wsx::tls::Trust::ca_file(&cert).unwrap();
        let (mut ws, _) = ClientBuilder::new(&url)
            .trust(trust)
            .connect()
            .await
            .unwrap();
        ws.send(Message::text("secure")).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("secure"));
    });
    let o = run(&["serve", "--tls-cert", cert.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "--tls-cert needs --tls-key");
    let o = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        "/nonexistent.pem",
        "--tls-key",
        "/nonexistent.pem",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nonexistent.pem"));
}

#[test]
fn ctrl_c_sends_1001_and_exits_cleanly() {
    let mut s = serve(&["--shutdown-timeout", "3s"]);
    let rt = rt();
    let mut ws = rt.block_on(async {
        let (ws, _) = wsx::connect(&format!("ws://127.0.0.1:{}/echo", s.port))
            .await
            .unwrap();
        ws
    });
    let started = Instant::now();
    s.proc.child.signal("INT");
    rt.block_on(async {
        match tokio::time::timeout(Duration::from_secs(5), ws.recv())
            .await
            .unwrap()
        {
            Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, CloseCode::GOING_AWAY),
            other => panic!("{other:?}"),
        }
        assert!(ws.recv().await.is_none());
    });
    let status = s.proc.wait_exit();
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "did not wait out the timeout needlessly"
    );
    let err = s.proc.stderr_to_end();
    assert!(err.contains("closing 1 WebSocket connection"), "{err}");
}

#[test]
fn sigterm_under_load_answers_every_accepted_message_before_1001() {
    let mut s = serve(&["--shutdown-timeout", "10s", "--log", "info"]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let outcome = rt.block_on(common::sigterm_under_load(&s.proc, 4, 4));
    let status = s.proc.wait_exit();
    assert!(status.success(), "{status}");
    let received = common::assert_all_accepted_answered(&s.proc.stderr_to_end(), &outcome);
    eprintln!(
        "{received} messages received: {:?} echoes, {} chat messages to 4 members and the sayer; {:?} from the first connection to the exit",
        outcome.echoed,
        outcome.broadcast,
        started.elapsed()
    );
}

#[test]
fn bad_flags_and_busy_port_fail_with_clear_messages() {
    let o = run(&["serve", "--max-payload", "lots"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid size"));
    let o = run(&["serve", "--listen", "not-an-address"]);
    assert_eq!(o.status.code(), Some(2));
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let o = run(&["serve", "--listen", &format!("127.0.0.1:{port}")]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Address already in use") || err.contains("in use"),
        "{err}"
    );
}

/// A metric's value in the `/metrics` text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

#[test]
fn the_memory_budget_defaults_to_half_the_memory_and_refuses_an_inflate_bomb_past_it() {
    let text = String::from_utf8(get(serve(&[]).port, "/metrics").2).unwrap();
    assert!(
        metric(&text, "wsx_memory_budget_bytes") >= 64 << 20,
        "{text}"
    );

    let s = serve(&["--memory-budget", "8MiB", "--max-payload", "64MiB"]);
    let text = String::from_utf8(get(s.port, "/metrics").2).unwrap();
    assert_eq!(metric(&text, "wsx_memory_budget_bytes"), 8 << 20);
    // 32 MiB of zeros, under the message limit, four times the budget.
    let mut d = wsx::proto::deflate::Deflater::new(false, 15, 9, 0);
    let mut payload = Vec::new();
    d.compress(&vec![0u8; 32 << 20], &mut payload).unwrap();
    let key = [9u8, 8, 7, 6];
    let mut frame = vec![0xC2, 0x80 | 126];
    frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    let mut tcp = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        tcp,
        "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    )
    .unwrap();
    tcp.write_all(&frame).unwrap();
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got);
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&got[..end]);
    assert!(
        head.contains("101") && head.contains("permessage-deflate"),
        "{head}"
    );
    let close = &got[end..];
    assert_eq!(close[0], 0x88, "a close frame: {close:?}");
    assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1013);
    let text = String::from_utf8(get(s.port, "/metrics").2).unwrap();
    assert!(
        metric(&text, "wsx_memory_budget_peak_bytes") <= 8 << 20,
        "{text}"
    );
}

/// `/metrics` after some traffic of each kind passes Prometheus' own linter
/// (`promtool check metrics`, from Debian's `prometheus`, which interop/setup.sh installs), and
/// carries the process metrics and the build info.
#[test]
fn metrics_pass_promtool_check_with_process_metrics_and_build_info() {
    let s = serve(&[]);
    rt().block_on(async {
        let url = format!("ws://127.0.0.1:{}/echo", s.port);
        let (mut ws, _) = ClientBuilder::new(&url).connect().await.unwrap();
        ws.send(Message::text("hi")).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hi"));
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        while ws.recv().await.is_some() {}
    });
    // Refused by wsx (no Sec-WebSocket-Key): counted with its reason.
    let mut tcp = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    tcp.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .unwrap();
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 400");
    let (st, _, body) = get(s.port, "/socket.io/?EIO=4&transport=polling");
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let text = rt().block_on(async {
        let p = Patience::new("/metrics to show the close");
        loop {
            let text = String::from_utf8(get(s.port, "/metrics").2).unwrap();
            if text.contains("wsx_connections_closed_total{code=\"1000\"} 1") {
                break text;
            }
            p.again().await;
        }
    });
    for series in [
        "wsx_connections_rejected_total{reason=\"handshake\"} 1",
        "wsx_engineio_sessions_open{transport=\"polling\"} 1",
        "wsx_handshake_duration_seconds_bucket{le=\"+Inf\"} 1",
        "wsx_build_info{version=\"",
        "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_cpu_seconds_total counter",
    ] {
        assert!(text.contains(series), "{series} not in:\n{text}");
    }
    assert!(metric(&text, "process_resident_memory_bytes") > 1 << 20);
    let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("promtool missing: interop/setup.sh installs Debian's prometheus package");
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );
}
