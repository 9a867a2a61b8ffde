//! Shared by the tests that run `wsx serve` as a process: starting and stopping it, and driving
//! a headless-Chromium script (`interop/chromium/*.mjs`) against it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[path = "../../../../tests-support/procs.rs"]
pub mod procs;
#[path = "../../../../tests-support/redis.rs"]
pub mod redis_procs;

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use procs::{Kill, Patience, free_port};
#[allow(unused_imports)]
pub use redis_procs::{Redis, RedisClusterProcs};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Bound on waiting for a `wsx serve` process to start or to exit.
const START_STOP: Duration = Duration::from_secs(20);

/// A `wsx serve` process (killed on drop). Its stderr is read line by line (shown with
/// `WSX_TEST_LOG=1`): it is ready when it says where it listens, and gone when its stderr
/// ends.
pub struct ServeProc {
    pub child: Kill,
    /// The port it listens on.
    pub port: u16,
    stderr: mpsc::Receiver<String>,
    /// The lines read so far.
    pub log: Vec<String>,
}

impl ServeProc {
    /// `wsx serve --listen 127.0.0.1:PORT ARGS` (`PORT` 0: any free port), waited on until it
    /// listens; fails if it exits first.
    pub fn start(port: u16, args: &[&OsStr]) -> ServeProc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wsx"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, stderr) = mpsc::channel();
        let show = std::env::var_os("WSX_TEST_LOG").is_some();
        procs::read_lines(
            child.stderr.take().unwrap(),
            move |line| {
                if show {
                    eprintln!("wsx serve: {line}");
                }
                let _ = tx.send(line);
            },
            || {},
        );
        let mut s = ServeProc {
            child: Kill(child),
            port: 0,
            stderr,
            log: Vec::new(),
        };
        // "listening on http://127.0.0.1:PORT/" (the log's own line says more).
        let line = s
            .line_where(|l| l.starts_with("listening on "))
            .unwrap_or_else(|| panic!("wsx serve exited before listening: {:?}", s.log));
        let addr = line
            .split_once("://")
            .map(|(_, rest)| rest.trim_end_matches('/'))
            .unwrap();
        s.port = addr.rsplit_once(':').unwrap().1.parse().unwrap();
        s
    }

    /// The next line of its stderr (kept in `log` too); `None` once stderr ended (the process
    /// exited). Fails after a long silence.
    fn next_line(&mut self) -> Option<String> {
        match self.stderr.recv_timeout(START_STOP) {
            Ok(line) => {
                self.log.push(line.clone());
                Some(line)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("wsx serve silent for {START_STOP:?}: {:?}", self.log)
            }
        }
    }

    /// The next stderr line for which `pred` holds; `None` if stderr ended first.
    pub fn line_where(&mut self, pred: impl Fn(&str) -> bool) -> Option<String> {
        while let Some(line) = self.next_line() {
            if pred(&line) {
                return Some(line);
            }
        }
        None
    }

    /// Waits until the process exits by itself (its stderr ends); returns its status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        while self.next_line().is_some() {}
        self.child.0.wait().unwrap()
    }

    /// Everything it wrote on stderr, to the end (it must exit meanwhile).
    pub fn stderr_to_end(&mut self) -> String {
        while self.next_line().is_some() {}
        self.log.join("\n")
    }
}

/// `wsx serve` on `port`, its documents in `data`, with a short graceful shutdown.
pub fn start_serve(port: u16, data: &Path) -> ServeProc {
    ServeProc::start(
        port,
        &[
            "--shutdown-timeout".as_ref(),
            "2s".as_ref(),
            "--data-dir".as_ref(),
            data.as_os_str(),
        ],
    )
}

/// SIGINT, as Ctrl-C would: the server closes every connection and exits 0.
pub fn stop_gracefully(mut s: ServeProc) {
    s.child.signal("INT");
    assert!(s.wait_exit().success(), "graceful shutdown exits 0");
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
