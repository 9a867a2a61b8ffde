//! Collaborative documents across processes (`wsx_redis::YjsRedis`): clients of one room on
//! different servers converge, awareness crosses, a server opening the room late gets
//! everything, and a Redis restart (its data gone) in the middle of editing loses nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use wsx_yjs::YjsServer;
use wsx_yjs::client::{Event, YjsClient};
use wsx_yjs::store::SqliteStore;
use wsx_yjs::yrs::{GetString, Text, Transact};

/// A document server with its own store, sharing rooms through the Redis at `url`.
async fn node(url: &str, dir: &std::path::Path) -> (String, YjsServer) {
    let cluster = wsx_redis::YjsRedisBuilder::new(url)
        .compact_after(50)
        .trim_margin(Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    let yjs = YjsServer::builder()
        .store(SqliteStore::open(dir.join("docs.db")).unwrap())
        .cluster(cluster)
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = yjs.clone();
    tokio::spawn(async move { server.serve_tcp(listener).await });
    (format!("ws://{addr}"), yjs)
}

async fn client(base: &str, room: &str) -> YjsClient {
    let mut c = YjsClient::connect(&format!("{base}/{room}")).await.unwrap();
    c.wait_synced().await.unwrap();
    c
}

fn text_of(c: &YjsClient) -> String {
    c.doc()
        .get_or_insert_text("t")
        .get_string(&c.doc().transact())
}

/// Handles `c`'s messages until its text contains every token.
async fn wait_for_all(c: &mut YjsClient, tokens: &[String]) {
    let t = c.doc().get_or_insert_text("t");
    tokio::time::timeout(
        Duration::from_secs(30),
        c.wait_until(|d| {
            let s = t.get_string(&d.transact());
            tokens.iter().all(|k| s.contains(k.as_str()))
        }),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "not every edit arrived; missing some of {} tokens",
            tokens.len()
        )
    })
    .unwrap();
}

async fn type_tokens(c: &mut YjsClient, who: &str, range: std::ops::Range<usize>) -> Vec<String> {
    let t = c.doc().get_or_insert_text("t");
    let mut out = Vec::new();
    for i in range {
        let token = format!("<{who}{i}>");
        c.edit(|txn| {
            let len = t.len(txn);
            // Insert at the front or the end, so the two writers interleave.
            t.insert(txn, if i % 2 == 0 { 0 } else { len }, &token);
        })
        .await
        .unwrap();
        out.push(token);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_two_servers_converge_and_a_late_server_catches_up() {
    let redis = common::Redis::start().await;
    let (d1, d2, d3) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (a, _ya) = node(&redis.url(), d1.path()).await;
    let (b, _yb) = node(&redis.url(), d2.path()).await;
    let mut c1 = client(&a, "pad").await;
    let mut c2 = client(&b, "pad").await;
    // Concurrent edits on both servers.
    let (t1, t2) = tokio::join!(type_tokens(&mut c1, "a", 0..150), async {
        type_tokens(&mut c2, "b", 0..150).await
    });
    let all: Vec<String> = t1.into_iter().chain(t2).collect();
    wait_for_all(&mut c1, &all).await;
    wait_for_all(&mut c2, &all).await;
    assert_eq!(text_of(&c1), text_of(&c2));

    // Awareness crosses too.
    c1.set_awareness(&serde_json::json!({"user": {"name": "alice"}}))
        .await
        .unwrap();
    let alice = c1.awareness().client_id();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::Awareness(u) = c2.next().await.unwrap()
                && u.clients
                    .get(&alice)
                    .is_some_and(|e| e.json.contains("alice"))
            {
                break;
            }
        }
    })
    .await
    .expect("awareness reached the other server's client");

    // A third server, with an empty store, opens the room late (after compactions wrote the
    // room into its hash): its client gets everything.
    let (c, _yc) = node(&redis.url(), d3.path()).await;
    let c3 = client(&c, "pad").await;
    assert_eq!(text_of(&c3), text_of(&c1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_in_the_middle_of_editing_loses_nothing() {
    let mut redis = common::Redis::start().await;
    let (d1, d2, d3) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (a, ya) = node(&redis.url(), d1.path()).await;
    let (b, _yb) = node(&redis.url(), d2.path()).await;
    let mut c1 = client(&a, "doc").await;
    let mut c2 = client(&b, "doc").await;
    let mut all = type_tokens(&mut c1, "a", 0..50).await;
    all.extend(type_tokens(&mut c2, "b", 0..50).await);
    wait_for_all(&mut c2, &all).await;

    // Redis goes away (with its data) while both keep typing, then comes back empty.
    redis.stop();
    all.extend(type_tokens(&mut c1, "a", 50..100).await);
    all.extend(type_tokens(&mut c2, "b", 50..100).await);
    redis.restart().await;
    all.extend(type_tokens(&mut c1, "a", 100..150).await);
    all.extend(type_tokens(&mut c2, "b", 100..150).await);
    wait_for_all(&mut c1, &all).await;
    wait_for_all(&mut c2, &all).await;
    assert_eq!(text_of(&c1), text_of(&c2));
    let m = ya.journal_stats().unwrap();
    assert!(m.appends.load(std::sync::atomic::Ordering::Relaxed) >= 150);

    // Redis was repopulated: a server opening the room now gets everything from it.
    let (c, _yc) = node(&redis.url(), d3.path()).await;
    let mut c3 = client(&c, "doc").await;
    wait_for_all(&mut c3, &all).await;
}
