//! `redis-server` processes of the test's own on 127.0.0.1 (free ports, no persistence), for
//! the tests of `wsx-redis` (`tests/common`) and `wsx-cli` (`tests/common`), which include this
//! file with `#[path]` next to [`procs`](super::procs): a plain server that can be stopped and
//! started again on its port, and a 3-primary Redis Cluster. A server is ready when it says so
//! on its stdout ("Ready to accept connections"); one that cannot listen says so and exits.
//!
//! `redis-server` and `redis-cli` (Debian's package) are installed by `interop/setup.sh`;
//! without them these tests fail, they never skip.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::procs::{Kill, T, eventually_async, free_port, read_lines, require};

const SERVER: &str = "/usr/bin/redis-server";
const CLI: &str = "/usr/bin/redis-cli";

/// A started `redis-server` and the lines of its log still to be read.
struct Started {
    child: Kill,
    log: UnboundedReceiver<String>,
}

/// The next line of `log` containing `needle`; `None` once the server has exited (its log
/// ended) without one. Fails after [`T`].
async fn log_line(log: &mut UnboundedReceiver<String>, port: u16, needle: &str) -> Option<String> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        match tokio::time::timeout_at(deadline, log.recv()).await {
            Ok(Some(line)) if line.contains(needle) => return Some(line),
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(_) => panic!("redis-server on port {port} did not log {needle:?} within {T:?}"),
        }
    }
}

/// Starts `redis-server --port PORT ARGS` and waits until it accepts connections; `None` if it
/// exited instead (its port is taken).
async fn start_server(port: u16, args: &[String]) -> Option<Started> {
    require(Path::new(SERVER));
    let mut child = Command::new(SERVER)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("redis-server does not start");
    let (tx, mut log) = unbounded_channel();
    read_lines(
        child.stdout.take().unwrap(),
        move |line| {
            if std::env::var_os("WSX_TEST_LOG").is_some() {
                eprintln!("redis-server {port}: {line}");
            }
            let _ = tx.send(line);
        },
        || {},
    );
    let child = Kill(child);
    log_line(&mut log, port, "Ready to accept connections").await?;
    Some(Started { child, log })
}

/// A `redis-server` on 127.0.0.1, without persistence, killed on drop.
pub struct Redis {
    child: Option<Kill>,
    pub port: u16,
}

impl Redis {
    pub async fn start() -> Redis {
        for _attempt in 0..5 {
            let port = free_port();
            if let Some(s) = start_server(port, &[]).await {
                return Redis {
                    child: Some(s.child),
                    port,
                };
            }
        }
        panic!("redis-server did not start on any of 5 ports");
    }

    /// Kills the server (until [`restart`](Self::restart)).
    pub fn stop(&mut self) {
        self.child = None;
    }

    /// Kills the server and starts a new one on the same port (its data is gone).
    pub async fn restart(&mut self) {
        self.stop();
        // The old server is reaped, its listening socket closed: the port is free unless
        // another process took it meanwhile, which a few attempts do not cure either.
        for _attempt in 0..3 {
            if let Some(s) = start_server(self.port, &[]).await {
                self.child = Some(s.child);
                return;
            }
        }
        panic!("redis-server does not restart on port {}", self.port);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

/// A 3-primary Redis Cluster on 127.0.0.1 (free ports for clients and the cluster bus, no
/// replicas, no persistence but the cluster's own `nodes-P.conf`, its files in a temporary
/// directory removed on drop); every server is killed on drop.
pub struct RedisClusterProcs {
    children: Vec<Kill>,
    pub ports: Vec<u16>,
    bus_ports: Vec<u16>,
    dir: PathBuf,
}

impl Drop for RedisClusterProcs {
    fn drop(&mut self) {
        self.children.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn cluster_args(dir: &Path, port: u16, bus: u16) -> Vec<String> {
    [
        "--cluster-enabled",
        "yes",
        "--cluster-port",
        &bus.to_string(),
        "--cluster-config-file",
        &format!("nodes-{port}.conf"),
        "--cluster-node-timeout",
        "2000",
        "--dir",
        dir.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec()
}

impl RedisClusterProcs {
    pub async fn start() -> RedisClusterProcs {
        require(Path::new(CLI));
        let dir = std::env::temp_dir().join(format!(
            "wsx-redis-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (mut started, mut ports, mut bus_ports) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            let mut node = None;
            for _attempt in 0..5 {
                let (port, bus) = (free_port(), free_port());
                if let Some(s) = start_server(port, &cluster_args(&dir, port, bus)).await {
                    node = Some((s, port, bus));
                    break;
                }
            }
            let (s, port, bus) =
                node.expect("a cluster redis-server did not start on any of 5 ports");
            started.push(s);
            ports.push(port);
            bus_ports.push(bus);
        }
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = tokio::time::timeout(
            T,
            tokio::process::Command::new(CLI)
                .arg("--cluster")
                .arg("create")
                .args(&addrs)
                .args(["--cluster-replicas", "0", "--cluster-yes"])
                .stdin(Stdio::null())
                .output(),
        )
        .await
        .expect("redis-cli --cluster create hangs")
        .expect("redis-cli does not run");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let mut procs = RedisClusterProcs {
            children: Vec::new(),
            ports,
            bus_ports,
            dir,
        };
        procs.wait_ok(started).await;
        procs
    }

    /// Kills every server of the cluster (until [`restart`](Self::restart)).
    pub fn stop(&mut self) {
        self.children.clear();
    }

    /// Starts the servers again on their ports with their cluster files (their data is gone,
    /// the cluster's shape is kept) and waits until the cluster is ok.
    pub async fn restart(&mut self) {
        self.stop();
        let mut started = Vec::new();
        for (port, bus) in self.ports.clone().into_iter().zip(self.bus_ports.clone()) {
            let args = cluster_args(&self.dir, port, bus);
            let mut node = None;
            for _attempt in 0..3 {
                node = start_server(port, &args).await;
                if node.is_some() {
                    break;
                }
            }
            started.push(node.unwrap_or_else(|| panic!("redis-server does not restart on {port}")));
        }
        self.wait_ok(started).await;
    }

    /// Waits until every node of the cluster logs that its state is ok (it then knows the
    /// three primaries and every slot is served), and keeps the servers.
    async fn wait_ok(&mut self, started: Vec<Started>) {
        for (mut s, port) in started.into_iter().zip(self.ports.clone()) {
            log_line(&mut s.log, port, "Cluster state changed: ok")
                .await
                .unwrap_or_else(|| panic!("the cluster's redis-server on {port} exited"));
            let info = cluster_info(port).await.unwrap_or_default();
            assert!(
                info.contains("cluster_state:ok")
                    && info.contains("cluster_known_nodes:3")
                    && info.contains("cluster_slots_assigned:16384"),
                "the Redis Cluster on port {port} said ok but is not: {info}"
            );
            self.children.push(s.child);
        }
    }

    /// The nodes' URLs (`redis://127.0.0.1:P/`).
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect()
    }

    /// How many clients of the whole cluster subscribe to sharded channel `channel`.
    pub async fn shard_subscribers(&self, channel: &str) -> usize {
        let mut total = 0;
        for port in &self.ports {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let (_, n): (String, usize) = redis::cmd("PUBSUB")
                .arg("SHARDNUMSUB")
                .arg(channel)
                .query_async(&mut conn)
                .await
                .unwrap();
            total += n;
        }
        total
    }

    /// Waits until `n` clients subscribe to sharded channel `channel` (asked of every node
    /// again and again: Redis tells no one of a subscription).
    pub async fn wait_shard_subscribers(&self, channel: &str, n: usize) {
        eventually_async(&format!("{n} subscribers of {channel}"), || async {
            self.shard_subscribers(channel).await == n
        })
        .await;
    }
}

async fn cluster_info(port: u16) -> Option<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async::<String>(&mut conn)
        .await
        .ok()
}
