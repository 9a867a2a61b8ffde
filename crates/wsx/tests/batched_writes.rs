//! Batched sends (`Sender::send_batched`, what `Hub::publish` uses): every frame queued to a
//! connection before the sending task yields goes out in one write (the first few
//! connections of a batch also get their first frame at once), in order with direct sends;
//! outside a runtime they are written at once.
#![allow(clippy::unwrap_used)]

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsx::{Message, Options, PreparedFrame, Role, WebSocket};

/// Records every write call and the bytes written.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<(usize, Vec<u8>)>>);

impl AsyncRead for Recorder {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

impl AsyncWrite for Recorder {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        let mut g = self.0.lock().unwrap();
        g.0 += 1;
        g.1.extend_from_slice(b);
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Recorder {
    fn writes(&self) -> usize {
        self.0.lock().unwrap().0
    }
    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().1.clone()
    }
}

fn frames(texts: &[&str]) -> Vec<u8> {
    texts
        .iter()
        .flat_map(|t| PreparedFrame::new(&Message::text(*t)).as_bytes().to_vec())
        .collect()
}

#[tokio::test]
async fn batched_sends_go_out_in_one_write_after_the_task_yields() {
    let rec = Recorder::default();
    let ws = WebSocket::from_raw(rec.clone(), Role::Server, None, Options::default());
    let s = ws.sender();
    let many: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    for m in &many {
        s.send_batched(Message::text(m.clone()), false);
    }
    assert_eq!(
        rec.writes(),
        1,
        "the first is written at once, the rest wait"
    );
    assert_eq!(s.buffered_amount(), 36);
    tokio::task::yield_now().await;
    assert_eq!(rec.writes(), 2);
    let names: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(rec.bytes(), frames(&names));

    // Direct sends write at once and keep their place among batched ones.
    s.send_batched(Message::text("first"), false);
    s.send_prepared_batched(&PreparedFrame::new(&Message::text("a")));
    s.send(Message::text("b"));
    s.send_batched(Message::text("c"), true);
    assert_eq!(
        rec.writes(),
        4,
        "the direct send wrote what was batched before it"
    );
    tokio::task::yield_now().await;
    assert_eq!(rec.writes(), 5);
    let mut expected = frames(&names);
    expected.extend(frames(&["first", "a", "b", "c"]));
    assert_eq!(rec.bytes(), expected);
    drop(ws);
}

#[tokio::test]
async fn one_flush_serves_every_connection_of_the_batch() {
    let recs: Vec<Recorder> = (0..50).map(|_| Recorder::default()).collect();
    let sockets: Vec<_> = recs
        .iter()
        .map(|r| WebSocket::from_raw(r.clone(), Role::Server, None, Options::default()))
        .collect();
    for round in 0..4 {
        for ws in &sockets {
            ws.sender()
                .send_batched(Message::text(format!("r{round}")), false);
        }
    }
    tokio::task::yield_now().await;
    // The first few connections of the batch were also written at once (round 0), so the
    // first receivers of a broadcast need not wait for the last to be queued.
    let eager = recs.iter().filter(|r| r.writes() == 2).count();
    assert!(
        (1..=8).contains(&eager),
        "{eager} connections written early"
    );
    for r in &recs {
        assert!(r.writes() <= 2);
        assert_eq!(r.bytes(), frames(&["r0", "r1", "r2", "r3"]));
    }
    assert_eq!(
        recs[0].writes(),
        2,
        "the first connection listed is written at once"
    );
}

#[test]
fn outside_a_runtime_batched_sends_are_written_at_once() {
    let rec = Recorder::default();
    let ws = WebSocket::from_raw(rec.clone(), Role::Server, None, Options::default());
    ws.sender().send_batched(Message::text("now"), false);
    assert_eq!(rec.writes(), 1);
    assert_eq!(rec.bytes(), frames(&["now"]));
}
