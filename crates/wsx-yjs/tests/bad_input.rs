//! Bad input closes the connection that sent it, with a close code that says why, and leaves
//! the document and the room's other connections as they were: truncated varints, unknown
//! message types, text frames, updates that do not decode, oversized messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use wsx_yjs::client::{Event, YjsClient};
use yrs::{GetString, Text, Transact};

async fn closed_with(c: &mut YjsClient) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), c.next()).await {
            Err(_) => panic!("the server did not close the connection"),
            Ok(Ok(Event::Closed(f))) => return f.map(|f| f.code.0).unwrap_or(1005),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("{e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_only_their_connection_and_leave_the_document_intact() {
    let (addr, _yjs) =
        common::serve(wsx_yjs::YjsServer::builder().max_message_size(64 << 10)).await;
    let url = format!("ws://{addr}/bad-input");
    let mut writer = YjsClient::connect(&url).await.unwrap();
    writer.wait_synced().await.unwrap();
    let text = writer.doc().get_or_insert_text("t");
    writer.edit(|txn| text.push(txn, "intact")).await.unwrap();

    // A valid update message whose update bytes are not an update.
    let mut not_an_update = vec![0u8, 2, 7];
    not_an_update.extend_from_slice(&[0xff, 0xff, 0xff, 0x0f, 1, 2, 3]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("truncated varint", vec![0x80, 0x80], 1007),
        ("truncated update", vec![0, 2, 20, 1, 2], 1007),
        ("unknown sync type", vec![0, 9, 1, 0], 1007),
        ("unknown message type", vec![7, 1, 0], 1003),
        ("update yrs rejects", not_an_update, 1007),
        (
            "awareness that is not JSON",
            vec![1, 6, 1, 42, 1, 2, b'{', b'x'],
            1007,
        ),
        ("empty frame", vec![], 1007),
        ("oversized", vec![0; 100 << 10], 1009),
    ];
    for (what, frame, code) in cases {
        let mut bad = YjsClient::connect(&url).await.unwrap();
        bad.wait_synced().await.unwrap();
        bad.send_raw(frame).await.unwrap();
        assert_eq!(closed_with(&mut bad).await, code, "{what}");
    }
    // A text frame.
    let (mut raw, _) = wsx::connect(&url).await.unwrap();
    raw.send(wsx::Message::text("hello")).await.unwrap();
    let mut code = None;
    while let Some(m) = raw.recv().await {
        if let Ok(wsx::Message::Close(f)) = m {
            code = f.map(|f| f.code.0);
        }
    }
    assert_eq!(code, Some(1003), "text frame");

    // The writer is still connected and its next edit reaches a new client, with nothing else.
    writer.edit(|txn| text.push(txn, "!")).await.unwrap();
    let mut reader = YjsClient::connect(&url).await.unwrap();
    let rt = reader.doc().get_or_insert_text("t");
    tokio::time::timeout(
        Duration::from_secs(10),
        reader.wait_until(|d| rt.get_string(&d.transact()) == "intact!"),
    )
    .await
    .expect("the document is intact")
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_connection_is_told_and_its_updates_are_dropped() {
    let (addr, _yjs) = common::serve(wsx_yjs::YjsServer::builder()).await;
    let url = format!("ws://{addr}/ro");
    let mut writer = YjsClient::connect(&url).await.unwrap();
    writer.wait_synced().await.unwrap();
    let text = writer.doc().get_or_insert_text("t");
    writer.edit(|txn| text.push(txn, "w1")).await.unwrap();

    let mut viewer = YjsClient::connect(&format!("{url}?token=ro"))
        .await
        .unwrap();
    let vt = viewer.doc().get_or_insert_text("t");
    viewer
        .wait_until(|d| vt.get_string(&d.transact()) == "w1")
        .await
        .unwrap();
    viewer.edit(|txn| vt.push(txn, "-ro")).await.unwrap();
    loop {
        match viewer.next().await.unwrap() {
            Event::Denied => break,
            Event::Closed(f) => panic!("closed: {f:?}"),
            _ => {}
        }
    }
    // The writer's next edit arrives after the viewer's was dropped; the writer never sees it.
    writer.edit(|txn| text.push(txn, "w2")).await.unwrap();
    viewer
        .wait_until(|d| vt.get_string(&d.transact()).contains("w2"))
        .await
        .unwrap();
    let mut fresh = YjsClient::connect(&url).await.unwrap();
    fresh.wait_synced().await.unwrap();
    let ft = fresh.doc().get_or_insert_text("t");
    assert_eq!(ft.get_string(&fresh.doc().transact()), "w1w2");
}
