//! The demo page in real headless Chromium (Debian's `chromium`, driven by `playwright-core`):
//! two pages, one over a plain WebSocket and one over Socket.IO, join a room, a message typed in one appears in the other's log and on its
//! live-comment stage, the server restarts and both pages reconnect and rejoin by themselves.
//! The screenshot is kept at `target/e2e/demo.png`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(port: u16, data: &Path) -> Kill {
    let child = Command::new(env!("CARGO_BIN_EXE_wsx"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--shutdown-timeout",
            "2s",
        ])
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "wsx serve did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Kill(child)
}

fn stop_gracefully(mut s: Kill) {
    // SIGINT, as Ctrl-C would: the server sends 1001 to every page and exits.
    let _ = Command::new("kill")
        .args(["-INT", &s.0.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.0.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "wsx serve did not exit on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(s.0.wait().unwrap().success(), "graceful shutdown exits 0");
}

#[test]
fn two_pages_chat_see_live_comments_and_reconnect_after_a_restart() {
    let root = repo_root();
    let script = root.join("interop/chromium/demo.mjs");
    assert!(
        root.join("interop/node_modules/playwright-core").is_dir()
            && Path::new("/usr/bin/chromium").exists(),
        "playwright-core or /usr/bin/chromium is missing: run interop/setup.sh (the README's test command does)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let shot_dir = root.join("target/e2e");
    std::fs::create_dir_all(&shot_dir).unwrap();
    let shot = shot_dir.join("demo.png");
    let _ = std::fs::remove_file(&shot);

    let data = tempfile::tempdir().unwrap();
    let mut server = Some(start_server(port, data.path()));
    let mut node = Kill(
        Command::new("node")
            .arg(&script)
            .arg(format!("http://127.0.0.1:{port}"))
            .arg(&shot)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = node.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut steps = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(90))
            .expect("the browser script stalled");
        eprintln!("chromium: {line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let step = v["step"].as_str().unwrap_or("").to_owned();
        assert_ne!(step, "failed", "{line}");
        if step == "restart-now" {
            stop_gracefully(server.take().unwrap());
            server = Some(start_server(port, data.path()));
            let stdin = node.0.stdin.as_mut().unwrap();
            stdin.write_all(b"restarted\n").unwrap();
            stdin.flush().unwrap();
        }
        steps.push(step.clone());
        if step == "done" {
            break;
        }
    }
    assert!(node.0.wait().unwrap().success());
    for s in [
        "mixed-transports",
        "both-joined",
        "message-delivered",
        "screenshot",
        "saw-disconnect",
        "reconnected",
        "done",
    ] {
        assert!(steps.iter().any(|x| x == s), "missing step {s}: {steps:?}");
    }
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );
    drop(server);
}
