//! Child processes for the tests of several crates (included with `#[path]` by
//! `wsx-socketio/tests/sio_interop`, `wsx-redis/tests/common` and `wsx-cli/tests/common`):
//! killed on drop, their JSON lines read as events that a test waits on ([`Inbox`]), the
//! scriptable peers of `interop/` driven by commands on their stdin ([`JsonProc`]), and
//! [`eventually`] for state that no event announces.
//!
//! Every wait here ends at an event (a line, a process exiting) or after [`T`] with a failure;
//! nothing waits for a fixed time.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// Deadline of every single wait.
pub const T: Duration = Duration::from_secs(20);

/// The repository's `interop/` directory (from any crate of `crates/`).
pub fn interop_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop");
    d.canonicalize().unwrap_or(d)
}

/// Fails unless `path` exists: the interop peers are installed by `interop/setup.sh`; without
/// them the tests fail, they never skip.
pub fn require(path: &Path) {
    assert!(
        path.exists(),
        "{} is missing: run interop/setup.sh first (it runs `npm ci` in interop/ and installs \
         Debian's chromium and redis-server)",
        path.display()
    );
}

/// A port nothing listens on now (bound to 127.0.0.1:0, read, let go).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child on drop.
pub struct Kill(pub Child);

impl Kill {
    /// Kills the child (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Sends signal `sig` (`INT`, `STOP`, `KILL`, …) to the child.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Freezes the child (SIGSTOP) and waits until every thread of it is stopped (a SIGSTOP
    /// takes effect only when a thread is next scheduled).
    pub fn freeze(&self) {
        self.signal("STOP");
        let task_dir = format!("/proc/{}/task", self.0.id());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let states: Vec<String> = std::fs::read_dir(&task_dir)
                .unwrap()
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
                .map(|stat| {
                    stat.rsplit_once(") ")
                        .map(|(_, rest)| rest[..1].to_owned())
                        .unwrap_or_default()
                })
                .collect();
            if states.iter().all(|s| s == "T" || s == "t") {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the process does not stop: thread states {states:?}"
            );
            // No event tells that a thread stopped: /proc is checked again (bounded above).
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Kill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Forwards `stdout`'s lines to `route` (from a thread of its own), then calls `end`.
pub fn read_lines(
    stdout: impl std::io::Read + Send + 'static,
    route: impl Fn(String) + Send + 'static,
    end: impl FnOnce() + Send + 'static,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            route(line);
        }
        end();
    });
}

/// Forwards `stdout`'s JSON lines to `route` (other lines go to stderr), then calls `end`.
pub fn read_json_lines(
    stdout: impl std::io::Read + Send + 'static,
    route: impl Fn(Value) + Send + 'static,
    end: impl FnOnce() + Send + 'static,
) {
    read_lines(
        stdout,
        move |line| match serde_json::from_str::<Value>(&line) {
            Ok(v) => route(v),
            Err(_) => eprintln!("peer printed a non-JSON line: {line}"),
        },
        end,
    );
}

/// A stream of JSON events (a peer's stdout, a server's log) that tests wait on: `expect`
/// returns the first event matching a predicate and keeps the others, in order, for later. An
/// `{"ev":"error"}` event fails the test unless the predicate asked for it.
pub struct Inbox {
    name: String,
    rx: UnboundedReceiver<Value>,
    backlog: VecDeque<Value>,
}

impl Inbox {
    pub fn new(name: impl Into<String>, rx: UnboundedReceiver<Value>) -> Self {
        Inbox {
            name: name.into(),
            rx,
            backlog: VecDeque::new(),
        }
    }

    fn check(&self, v: &Value) {
        if v["ev"] == "error" {
            panic!("{}: error: {v}", self.name);
        }
    }

    /// Moves what arrived so far into the backlog (without waiting).
    fn pull(&mut self, pred: &impl Fn(&Value) -> bool) {
        while let Ok(v) = self.rx.try_recv() {
            if !pred(&v) {
                self.check(&v);
            }
            self.backlog.push_back(v);
        }
    }

    /// Waits (at most [`T`]) for the first event matching `pred`.
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i).unwrap();
        }
        let deadline = tokio::time::Instant::now() + T;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(v)) => {
                    if pred(&v) {
                        return v;
                    }
                    self.check(&v);
                    self.backlog.push_back(v);
                }
                Ok(None) => panic!(
                    "{}: ended while waiting for {what}; unclaimed events: {:#?}",
                    self.name, self.backlog
                ),
                Err(_) => panic!(
                    "{}: timed out after {T:?} waiting for {what}; unclaimed events: {:#?}",
                    self.name, self.backlog
                ),
            }
        }
    }

    /// The first `n` events matching `pred`, in order (others are kept); fails after [`T`].
    pub async fn take(
        &mut self,
        what: &str,
        n: usize,
        pred: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let mut got = Vec::with_capacity(n);
        let mut rest = VecDeque::new();
        for v in self.backlog.drain(..) {
            if got.len() < n && pred(&v) {
                got.push(v);
            } else {
                rest.push_back(v);
            }
        }
        self.backlog = rest;
        let deadline = tokio::time::Instant::now() + T;
        while got.len() < n {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(v)) if pred(&v) => got.push(v),
                Ok(Some(v)) => {
                    self.check(&v);
                    self.backlog.push_back(v);
                }
                Ok(None) => panic!("{} ended while waiting for {what}", self.name),
                Err(_) => panic!("{}: {} of {n} {what} within {T:?}", self.name, got.len()),
            }
        }
        got
    }

    /// Whether an event matching `pred` arrived so far (without waiting; it stays).
    pub fn seen(&mut self, pred: impl Fn(&Value) -> bool) -> bool {
        self.pull(&|_| false);
        self.backlog.iter().any(pred)
    }

    /// Takes every event received so far (without waiting) that matches `pred`.
    pub fn drain_matching(&mut self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.pull(&pred);
        let (hit, keep): (Vec<_>, Vec<_>) = self.backlog.drain(..).partition(|v| pred(v));
        self.backlog = keep.into();
        hit
    }
}

/// The write end of a process that reads JSON commands on stdin, and the process (killed on
/// drop).
pub struct JsonChild {
    stdin: ChildStdin,
    child: Kill,
}

impl JsonChild {
    /// Starts `command` with its stdout read as JSON events into the returned inbox (`name`
    /// for messages).
    pub fn spawn(name: &str, mut command: Command) -> (JsonChild, Inbox) {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, rx) = unbounded_channel();
        read_json_lines(
            stdout,
            move |v| {
                let _ = tx.send(v);
            },
            || {},
        );
        (
            JsonChild {
                stdin,
                child: Kill(child),
            },
            Inbox::new(name, rx),
        )
    }

    /// Writes `cmd` as one line.
    pub fn send(&mut self, cmd: &Value) {
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .expect("driver's stdin");
        self.stdin.flush().expect("driver's stdin");
    }

    pub fn process(&mut self) -> &mut Kill {
        &mut self.child
    }
}

/// Sends `cmd` through `send` with the next sequence number (`seq`) and waits in `inbox` for
/// the driver's `{"ev":"ok","seq"}` answer, which it returns.
pub async fn call(
    inbox: &mut Inbox,
    seq: &mut u64,
    mut cmd: Value,
    send: impl FnOnce(&Value),
) -> Value {
    *seq += 1;
    let n = *seq;
    cmd["seq"] = json!(n);
    let what = format!("the answer to {cmd}");
    send(&cmd);
    inbox
        .expect(&what, move |v| v["ev"] == "ok" && v["seq"] == n)
        .await
}

/// A script of `interop/` (or any program) speaking JSON lines: commands on its stdin, events
/// on its stdout.
pub struct JsonProc {
    child: JsonChild,
    pub inbox: Inbox,
    seq: u64,
}

impl JsonProc {
    /// `node interop/node/<script> ARGS`.
    pub fn node(script: &str, args: &[&str]) -> JsonProc {
        let dir = interop_dir();
        require(&dir.join("node_modules/socket.io/package.json"));
        let mut command = Command::new("node");
        command
            .arg(dir.join("node").join(script))
            .args(args)
            .current_dir(&dir);
        Self::spawn(script, command)
    }

    /// Any process printing JSON lines on stdout (`name` for messages).
    pub fn spawn(name: &str, command: Command) -> JsonProc {
        let (child, inbox) = JsonChild::spawn(name, command);
        JsonProc {
            child,
            inbox,
            seq: 0,
        }
    }

    pub fn send(&mut self, cmd: Value) {
        self.child.send(&cmd);
    }

    /// Sends a command with a sequence number and waits for its `ok` answer.
    pub async fn call(&mut self, cmd: Value) -> Value {
        let child = &mut self.child;
        call(&mut self.inbox, &mut self.seq, cmd, |c| child.send(c)).await
    }

    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.inbox.expect(what, pred).await
    }

    /// Sends signal `sig` (`STOP`, `KILL`, …) to the process.
    pub fn signal(&mut self, sig: &str) {
        self.child.process().signal(sig);
    }

    /// Freezes the process (SIGSTOP) and waits until every thread of it is stopped.
    pub fn freeze(&mut self) {
        self.child.process().freeze();
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        self.child.process().kill();
    }
}

/// A bounded wait for state that no event announces (a socket's rooms after a remote join, a
/// counter of the code under test, a peer's answer to a query): `while !cond { p.again().await }`
/// checks the real condition again and again, and fails after [`T`].
pub struct Patience {
    what: String,
    deadline: tokio::time::Instant,
}

impl Patience {
    pub fn new(what: impl Into<String>) -> Self {
        Patience {
            what: what.into(),
            deadline: tokio::time::Instant::now() + T,
        }
    }

    /// Fails once [`T`] has passed; else lets the code under test run a few milliseconds
    /// before the condition is checked again.
    pub async fn again(&self) {
        assert!(
            tokio::time::Instant::now() < self.deadline,
            "timed out after {T:?} waiting for {}",
            self.what
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits (at most [`T`]) until `cond` holds, checking it again every few milliseconds (see
/// [`Patience`]). Fails with `what`.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let p = Patience::new(what);
    while !cond() {
        p.again().await;
    }
}

/// [`eventually`] with a condition that has to be asked for (a Redis query).
pub async fn eventually_async<F: Future<Output = bool>>(what: &str, mut cond: impl FnMut() -> F) {
    let p = Patience::new(what);
    while !cond().await {
        p.again().await;
    }
}
