//! A wsx node as a process of its own, for `tests/classic_node_killed.rs`, which kills it:
//! the tests' `WsxNode` (the classic adapter) on the Redis URL given as the only argument,
//! served until the process is killed (60 s at most). It prints
//! `{"ev":"listening","base":…}` on stdout once it listens.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use std::time::Duration;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::args().nth(1).expect("usage: test_node REDIS_URL");
    let w = common::WsxNode::start(&url).await;
    println!("{}", serde_json::json!({"ev": "listening", "base": w.base}));
    tokio::time::sleep(Duration::from_secs(60)).await;
}
