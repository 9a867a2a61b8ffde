//! Real proxies from Debian's packages, started on 127.0.0.1 for a test: `tinyproxy` (HTTP
//! CONNECT with Basic auth) and `microsocks` (SOCKS5 with a username and password), both with
//! the credentials `USER`/`PASSWORD`. `interop/setup.sh` installs them; without them the tests
//! fail, never skip. Shared by the tests of `wsx` and `wsx-cli` (`#[path]`).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Bounds each wait here.
const LIMIT: Duration = Duration::from_secs(20);

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

pub const USER: &str = "wsx";
pub const PASSWORD: &str = "s3cret";

/// A proxy process, killed when dropped.
pub struct Running {
    child: Child,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn require(bin: &str) {
    assert!(
        Path::new(bin).exists(),
        "{bin} is missing: run interop/setup.sh first (it installs Debian's tinyproxy and microsocks)"
    );
}

/// Waits until something listens on `port` (the proxy is up), bounded.
async fn listening(port: u16, child: &mut Child) {
    within(async {
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the proxy exited before listening: {status}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

pub async fn tinyproxy() -> Running {
    require("/usr/bin/tinyproxy");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("tinyproxy.conf");
    // No ConnectPort line: CONNECT is allowed to every port. `User` only matters as root.
    std::fs::write(
        &conf,
        format!(
            "User nobody\nGroup nogroup\nPort {port}\nListen 127.0.0.1\nTimeout 30\n\
             MaxClients 50\nLogLevel Connect\nBasicAuth {USER} {PASSWORD}\n"
        ),
    )
    .unwrap();
    let mut child = Command::new("/usr/bin/tinyproxy")
        .arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    listening(port, &mut child).await;
    Running {
        child,
        port,
        _dir: Some(dir),
    }
}

pub async fn microsocks() -> Running {
    require("/usr/bin/microsocks");
    let port = free_port();
    let mut child = Command::new("/usr/bin/microsocks")
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-u", USER, "-P", PASSWORD])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    listening(port, &mut child).await;
    Running {
        child,
        port,
        _dir: None,
    }
}
