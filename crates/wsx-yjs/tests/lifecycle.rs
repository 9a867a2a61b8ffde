//! A document's life: loaded on its first connection, freed a grace period after the last one
//! left, loaded again from the store with everything; awareness states that are not renewed
//! expire and their removal is announced; compaction keeps the store bounded under 100,000
//! small updates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use wsx_yjs::YjsServer;
use wsx_yjs::client::{Event, YjsClient};
use wsx_yjs::store::SqliteStore;
use yrs::{GetString, Text, Transact};

/// Polls `f` until it holds (a state of the server with no event to await), for at most 10 s.
async fn eventually(mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "condition not reached in 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_is_freed_after_its_last_connection_and_reloads_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("docs.db")).unwrap();
    let (addr, yjs) = common::serve(
        YjsServer::builder()
            .store(store)
            .grace(Duration::from_millis(200)),
    )
    .await;
    let url = format!("ws://{addr}/life");
    let mut a = YjsClient::connect(&url).await.unwrap();
    a.wait_synced().await.unwrap();
    let t = a.doc().get_or_insert_text("t");
    const EDITS: usize = 20;
    for i in 0..EDITS {
        a.edit(|txn| t.push(txn, &format!("{i},"))).await.unwrap();
    }
    let expected = t.get_string(&a.doc().transact());
    // The edits come back (the echo): they are stored.
    let mut echoed = 0;
    while echoed < EDITS {
        if let Event::Update = a.next().await.unwrap() {
            echoed += 1;
        }
    }
    assert_eq!(yjs.open_rooms(), 1);
    a.close().await.unwrap();
    eventually(|| yjs.open_rooms() == 0).await;

    let mut b = YjsClient::connect(&url).await.unwrap();
    b.wait_synced().await.unwrap();
    let bt = b.doc().get_or_insert_text("t");
    assert_eq!(bt.get_string(&b.doc().transact()), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_document_is_held_encoded_and_still_serves_joins_and_edits() {
    let (addr, yjs) = common::serve(
        YjsServer::builder()
            .encode_idle_after(Duration::from_millis(100))
            .keep_encoded_below(0)
            .awareness_timeout(Duration::from_secs(1)),
    )
    .await;
    let url = format!("ws://{addr}/idle");
    let mut a = YjsClient::connect(&url).await.unwrap();
    a.wait_synced().await.unwrap();
    let t = a.doc().get_or_insert_text("t");
    a.edit(|txn| t.push(txn, "written")).await.unwrap();
    while !matches!(a.next().await.unwrap(), Event::Update) {}
    eventually(|| yjs.encoded_rooms() == 1).await;

    // A join is answered from the encoded state.
    let mut b = YjsClient::connect(&url).await.unwrap();
    b.wait_synced().await.unwrap();
    let bt = b.doc().get_or_insert_text("t");
    assert_eq!(bt.get_string(&b.doc().transact()), "written");
    // An edit decodes it again and reaches the other client.
    b.edit(|txn| bt.push(txn, " and read")).await.unwrap();
    a.wait_until(|d| t.get_string(&d.transact()) == "written and read")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_document_is_held_encoded_while_edited_until_it_grows() {
    let (addr, yjs) = common::serve(YjsServer::builder().keep_encoded_below(512)).await;
    let url = format!("ws://{addr}/small");
    let mut a = YjsClient::connect(&url).await.unwrap();
    a.wait_synced().await.unwrap();
    let mut b = YjsClient::connect(&url).await.unwrap();
    b.wait_synced().await.unwrap();
    let t = a.doc().get_or_insert_text("t");
    let bt = b.doc().get_or_insert_text("t");
    let mut expected = String::new();
    // Keystrokes from both sides while the document is small: it is never held decoded.
    for i in 0..10 {
        let (who, text) = if i % 2 == 0 {
            (&mut a, &t)
        } else {
            (&mut b, &bt)
        };
        let c = char::from(b'a' + i as u8);
        who.edit(|txn| text.push(txn, &c.to_string()))
            .await
            .unwrap();
        expected.push(c);
        let want = expected.clone();
        a.wait_until(|d| t.get_string(&d.transact()) == want)
            .await
            .unwrap();
        let want = expected.clone();
        b.wait_until(|d| bt.get_string(&d.transact()) == want)
            .await
            .unwrap();
        assert_eq!(yjs.encoded_rooms(), 1, "after {} keystrokes", i + 1);
    }
    // Past the limit it is decoded and stays so while it is edited.
    let long = "x".repeat(600);
    a.edit(|txn| t.push(txn, &long)).await.unwrap();
    expected.push_str(&long);
    b.wait_until(|d| bt.get_string(&d.transact()) == expected)
        .await
        .unwrap();
    assert_eq!(yjs.encoded_rooms(), 0);
    // A client joining now gets it all.
    let mut c = YjsClient::connect(&url).await.unwrap();
    c.wait_synced().await.unwrap();
    let ct = c.doc().get_or_insert_text("t");
    assert_eq!(ct.get_string(&c.doc().transact()), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awareness_states_not_renewed_expire_and_the_removal_is_announced() {
    let (addr, _yjs) =
        common::serve(YjsServer::builder().awareness_timeout(Duration::from_millis(500))).await;
    let url = format!("ws://{addr}/presence");
    let mut a = YjsClient::connect(&url).await.unwrap();
    a.wait_synced().await.unwrap();
    let mut b = YjsClient::connect(&url).await.unwrap();
    b.wait_synced().await.unwrap();
    a.set_awareness(&serde_json::json!({"user": {"name": "alice"}}))
        .await
        .unwrap();
    let id = a.awareness().client_id();
    let started = Instant::now();
    // b sees alice, then (a never renews) her removal, though a stays connected.
    let mut seen = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), b.next())
            .await
            .expect("no awareness event")
            .unwrap()
        {
            Event::Awareness(u) => {
                let e = &u.clients[&id];
                if &*e.json == "null" {
                    assert!(seen);
                    break;
                }
                assert!(e.json.contains("alice"));
                seen = true;
            }
            Event::Closed(f) => panic!("closed {f:?}"),
            _ => {}
        }
    }
    assert!(started.elapsed() >= Duration::from_millis(450));
    assert!(b.awareness().state::<serde_json::Value>(id).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_the_store_bounded_under_100k_small_updates() {
    const UPDATES: usize = 100_000;
    const BATCH: usize = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docs.db");
    let (addr, yjs) = common::serve(
        YjsServer::builder()
            .store(SqliteStore::open(&path).unwrap())
            .compact_after(1_000, 4 << 20),
    )
    .await;
    let url = format!("ws://{addr}/many");
    let mut a = YjsClient::connect(&url).await.unwrap();
    a.wait_synced().await.unwrap();
    let t = a.doc().get_or_insert_text("t");
    for batch in 0..UPDATES / BATCH {
        for i in 0..BATCH {
            // One keystroke each, alternating inserts and deletes so the text stays short.
            let n = batch * BATCH + i;
            a.edit(|txn| {
                if n.is_multiple_of(2) {
                    t.push(txn, "x");
                } else {
                    let len = t.len(txn);
                    t.remove_range(txn, len - 1, 1);
                }
            })
            .await
            .unwrap();
        }
        let mut echoed = 0;
        while echoed < BATCH {
            if let Event::Update = a.next().await.unwrap() {
                echoed += 1;
            }
        }
    }
    a.edit(|txn| t.push(txn, "end")).await.unwrap();
    while !matches!(a.next().await.unwrap(), Event::Update) {}
    a.close().await.unwrap();
    // Everything is written and the store's file released.
    yjs.shutdown(Duration::from_secs(5)).await;
    let stats = yjs.journal_stats().unwrap();
    let appends = stats.appends.load(std::sync::atomic::Ordering::Relaxed);
    let commits = stats.commits.load(std::sync::atomic::Ordering::Relaxed);
    let compactions = stats.compactions.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{appends} updates, {commits} commits, {compactions} compactions");
    assert!(appends > UPDATES as u64, "every update was stored");
    assert!(
        compactions >= 99,
        "compacted every 1,000 updates ({compactions})"
    );
    let check = SqliteStore::open(&path).unwrap();
    let rows = check.update_count("many").unwrap();
    assert!(rows <= 1_000, "{rows} updates left after compaction");
    let size: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    eprintln!("store files: {size} bytes");
    assert!(size < 8 << 20, "store bounded: {size} bytes");
    // A fresh server on the same file serves the same document.
    drop(check);
    let (addr2, _yjs2) =
        common::serve(YjsServer::builder().store(SqliteStore::open(&path).unwrap())).await;
    let mut b = YjsClient::connect(&format!("ws://{addr2}/many"))
        .await
        .unwrap();
    b.wait_synced().await.unwrap();
    let bt = b.doc().get_or_insert_text("t");
    assert_eq!(bt.get_string(&b.doc().transact()), "end");
}
