//! Shared by the tests that run `wsx serve` as a process: starting and stopping it, and driving
//! a headless-Chromium script (`interop/chromium/*.mjs`) against it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Kills the child on drop.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (10 s at most) until something accepts connections on `port`.
pub fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `wsx serve` on `port`, its documents in `data`, with a short graceful shutdown.
pub fn start_serve(port: u16, data: &Path) -> Kill {
    let child = Command::new(env!("CARGO_BIN_EXE_wsx"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--shutdown-timeout", "2s", "--data-dir"])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Kill(child);
    wait_port(port, "wsx serve");
    child
}

/// SIGINT, as Ctrl-C would: the server closes every connection and exits 0.
pub fn stop_gracefully(mut s: Kill) {
    let _ = Command::new("kill")
        .args(["-INT", &s.0.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "wsx serve did not exit on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(s.0.wait().unwrap().success(), "graceful shutdown exits 0");
}

/// Runs `interop/chromium/<script>` against a `wsx serve` of its own and returns the steps
/// it reported. The script prints one JSON line per step; on `{"step":"restart-now"}` the
/// server is stopped gracefully and started again on the same port and data directory, and
/// the script is told with a line on its stdin. A `failed` step (or a `page-error`, when
/// `page_errors_fail`) fails the test; the screenshot goes to `target/e2e/<shot>`.
pub fn run_browser_script(script: &str, shot: &str, page_errors_fail: bool) -> Vec<String> {
    let root = repo_root();
    assert!(
        root.join("interop/node_modules/playwright-core").is_dir()
            && Path::new("/usr/bin/chromium").exists(),
        "playwright-core or /usr/bin/chromium is missing: run interop/setup.sh (the README's test command does)"
    );
    let port = free_port();
    let shot_dir = root.join("target/e2e");
    std::fs::create_dir_all(&shot_dir).unwrap();
    let shot = shot_dir.join(shot);
    let _ = std::fs::remove_file(&shot);

    let data = tempfile::tempdir().unwrap();
    let mut server = Some(start_serve(port, data.path()));
    let mut node = Kill(
        Command::new("node")
            .arg(root.join("interop/chromium").join(script))
            .arg(format!("http://127.0.0.1:{port}"))
            .arg(&shot)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let steps = follow_steps(&mut node, |step, line, node| {
        if page_errors_fail {
            assert_ne!(step, "page-error", "{line}");
        }
        if step == "restart-now" {
            stop_gracefully(server.take().unwrap());
            server = Some(start_serve(port, data.path()));
            let stdin = node.0.stdin.as_mut().unwrap();
            stdin.write_all(b"restarted\n").unwrap();
            stdin.flush().unwrap();
        }
    });
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );
    drop(server);
    steps
}

/// Reads a browser script's JSON lines (`{"step": ...}`) until its `done` step, failing on a
/// `failed` step or a 90 s stall, and calls `on` with each step, its line and the script's
/// process; returns the steps; asserts the script then exits 0.
pub fn follow_steps(node: &mut Kill, mut on: impl FnMut(&str, &str, &mut Kill)) -> Vec<String> {
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
        on(&step, &line, node);
        let done = step == "done";
        steps.push(step);
        if done {
            break;
        }
    }
    assert!(node.0.wait().unwrap().success());
    steps
}

/// Asserts that every one of `expected` is among `steps`.
pub fn assert_steps(steps: &[String], expected: &[&str]) {
    for s in expected {
        assert!(steps.iter().any(|x| x == s), "missing step {s}: {steps:?}");
    }
}
