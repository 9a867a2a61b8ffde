//! Collaborative documents in `wsx serve` (`/yjs/<room>`, `--data-dir`): the server is killed
//! with SIGKILL right after an edit reached another client, restarted on the same data
//! directory, and a new client gets every update; a graceful restart keeps them too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;
use std::time::Duration;

use wsx_yjs::client::{Event, YjsClient};
use wsx_yjs::yrs::{GetString, Map, Text, Transact};

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_update_seen_by_a_client_survives_sigkill() {
    let data = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut server = common::start_serve(port, data.path());
    let url = format!("ws://127.0.0.1:{port}/yjs/durable");

    let mut writer = YjsClient::connect(&url).await.unwrap();
    writer.wait_synced().await.unwrap();
    let mut reader = YjsClient::connect(&url).await.unwrap();
    reader.wait_synced().await.unwrap();
    let text = writer.doc().get_or_insert_text("t");
    let map = writer.doc().get_or_insert_map("m");
    for i in 0..300 {
        writer
            .edit(|txn| {
                text.push(txn, &format!("{i} "));
                map.insert(txn, format!("k{}", i % 7), i as i64);
            })
            .await
            .unwrap();
    }
    let expected = text.get_string(&writer.doc().transact());
    let rt = reader.doc().get_or_insert_text("t");
    tokio::time::timeout(
        Duration::from_secs(20),
        reader.wait_until(|d| rt.get_string(&d.transact()) == expected),
    )
    .await
    .expect("the reader got every edit")
    .unwrap();
    // The moment the last edit reached the reader: SIGKILL, no chance to flush anything.
    server.child.0.kill().unwrap();
    server.child.0.wait().unwrap();
    drop(server);

    let _server = common::start_serve(port, data.path());
    let mut fresh = YjsClient::connect(&url).await.unwrap();
    fresh.wait_synced().await.unwrap();
    let ft = fresh.doc().get_or_insert_text("t");
    let fm = fresh.doc().get_or_insert_map("m");
    let txn = fresh.doc().transact();
    assert_eq!(ft.get_string(&txn), expected);
    assert_eq!(fm.len(&txn), 7);
    assert_eq!(fm.get(&txn, "k5").unwrap().to_string(&txn), "299");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_yjs_endpoint_answers_plain_requests_and_echoes_updates() {
    let data = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let _server = common::start_serve(port, data.path());
    // Not an upgrade: 426 with a hint.
    let resp = {
        use std::io::{Read, Write};
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "GET /yjs/room HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).unwrap();
        buf
    };
    assert!(resp.starts_with("HTTP/1.1 426"), "{resp}");
    assert!(resp.contains("y-websocket"));
    // The sender gets its own update back (y-websocket clients rely on the echo).
    let mut a = YjsClient::connect(&format!("ws://127.0.0.1:{port}/yjs/echo"))
        .await
        .unwrap();
    a.wait_synced().await.unwrap();
    let t = a.doc().get_or_insert_text("t");
    a.edit(|txn| t.push(txn, "hi")).await.unwrap();
    loop {
        match a.next().await.unwrap() {
            Event::Update => break,
            Event::Closed(f) => panic!("closed {f:?}"),
            _ => {}
        }
    }
    assert!(data.path().join("yjs.db").exists());
}
