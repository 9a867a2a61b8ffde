//! The real `y-websocket` 3.x client (`WebsocketProvider`, `yjs` 13, over Node `ws`) against
//! this server, and the same script against the Node reference server (`y-websocket` 2.1.0's
//! `setupWSConnection`): convergence after concurrent random edits, awareness both ways and
//! its removal on close, a late joiner, a 1 MiB update, an idle client kept 35 s without a
//! reconnect, a read-only client, an auth rejection, 50 rooms kept apart
//! (`interop/yjs/client.mjs`; `interop/setup.sh` installs the packages).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const SCENARIOS: [&str; 8] = [
    "converge",
    "awareness",
    "late_joiner",
    "large_update",
    "idle",
    "read_only",
    "auth_reject",
    "rooms_apart",
];

fn check_setup() {
    let root = common::repo_root();
    assert!(
        root.join("interop/node_modules/y-websocket").is_dir()
            && root
                .join("interop/node_modules/y-websocket-server-ref")
                .is_dir(),
        "y-websocket is missing: run interop/setup.sh (the README's test command does)"
    );
}

/// Runs every scenario against `base`; asserts each passed.
async fn run_scenarios(base: &str) {
    let root = common::repo_root();
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        Command::new("node")
            .arg(root.join("interop/yjs/client.mjs"))
            .arg(base)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the interop script did not finish in 90 s")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{base}:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for name in SCENARIOS {
        let line = lines
            .iter()
            .find(|v| v["scenario"] == name)
            .unwrap_or_else(|| panic!("scenario {name} did not report"));
        assert_eq!(line["ok"], true, "{name}: {line}");
    }
    let done = lines.iter().find(|v| v["done"] == true).expect("summary");
    assert_eq!(done["passed"], SCENARIOS.len());
    assert_eq!(done["failed"], 0);
    assert!(out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn y_websocket_client_against_wsx_yjs() {
    check_setup();
    let dir = tempfile::tempdir().unwrap();
    let store = wsx_yjs::store::SqliteStore::open(dir.path().join("docs.db")).unwrap();
    let (addr, yjs) = common::serve(wsx_yjs::YjsServer::builder().store(store)).await;
    run_scenarios(&format!("ws://{addr}")).await;
    let stats = yjs.journal_stats().unwrap();
    let appends = stats.appends.load(std::sync::atomic::Ordering::Relaxed);
    let commits = stats.commits.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("journal: {appends} updates in {commits} commits");
    assert!(appends > 500, "the edits were stored ({appends})");
    assert!(
        commits <= appends,
        "group commits ({commits} for {appends})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_script_passes_against_the_node_reference_server() {
    check_setup();
    let root = common::repo_root();
    let mut server = Command::new("node")
        .arg(root.join("interop/yjs/ref_server.cjs"))
        .arg("0")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the reference server did not start")
        .unwrap()
        .unwrap();
    let port = serde_json::from_str::<serde_json::Value>(&first).unwrap()["listening"]
        .as_u64()
        .unwrap();
    run_scenarios(&format!("ws://127.0.0.1:{port}")).await;
    server.kill().await.unwrap();
}
