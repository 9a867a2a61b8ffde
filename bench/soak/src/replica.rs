//! A y-websocket client holding a replica of one document (a yrs `Doc` with a Y.Text `t`),
//! as the y-websocket provider does: SyncStep1 with its state vector, SyncStep2 in answer to
//! the server's, updates both ways (every message of a frame). Unlike
//! `wsx_yjs::client::YjsClient` it tells what each update brought: which blocks of which
//! client became part of the document (the state vector before and after), whether it held
//! blocks of its own client (the server's echo, which marks an edit as stored by the server),
//! and whether something arrived before what it depends on.

use std::ops::Range;

use bytes::Bytes;
use wsx::{ClientBuilder, MaybeTlsStream, Message as WsMessage, WebSocket};
use yrs::sync::{Message, MessageReader, SyncMessage};
use yrs::updates::decoder::{Decode, DecoderV1};
use yrs::updates::encoder::Encode;
use yrs::{ClientID, Doc, GetString, ReadTxn, Text, TextRef, Transact, Update};

pub struct Replica {
    ws: WebSocket<MaybeTlsStream>,
    doc: Doc,
    text: TextRef,
    /// The end of this client's own blocks the server has sent back.
    echoed: u32,
}

/// What one frame from the server brought.
#[derive(Default, Debug)]
pub struct Got {
    /// The server's SyncStep2 came.
    pub synced: bool,
    /// Blocks that became part of the document: (client, clock range).
    pub integrated: Vec<(u64, Range<u32>)>,
    /// Blocks that arrived before what they depend on (held back by yrs).
    pub early: bool,
    /// Blocks of other clients that the document had already.
    pub repeated: bool,
}

fn sync(msg: SyncMessage) -> Bytes {
    Message::Sync(msg).encode_v1().into()
}

impl Replica {
    /// Connects to `ws://ADDR/yjs/ROOM` and sends SyncStep1.
    pub async fn connect(addr: &str, room: &str) -> Result<Replica, String> {
        let (ws, _) = ClientBuilder::new(format!("ws://{addr}/yjs/{room}"))
            .connect()
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let doc = Doc::new();
        let text = doc.get_or_insert_text("t");
        let mut r = Replica {
            ws,
            doc,
            text,
            echoed: 0,
        };
        let sv = r.doc.transact().state_vector();
        r.send(sync(SyncMessage::SyncStep1(sv))).await?;
        Ok(r)
    }

    pub fn client_id(&self) -> u64 {
        self.doc.client_id().get()
    }

    /// The end of this client's blocks that the server echoed.
    pub fn echoed(&self) -> u32 {
        self.echoed
    }

    /// The end of `client`'s blocks in this replica.
    pub fn clock_of(&self, client: u64) -> u32 {
        self.doc
            .transact()
            .state_vector()
            .get(&ClientID::new(client))
    }

    pub fn text(&self) -> String {
        self.text.get_string(&self.doc.transact())
    }

    async fn send(&mut self, frame: Bytes) -> Result<(), String> {
        self.ws
            .send(WsMessage::Binary(frame))
            .await
            .map_err(|e| format!("write failed: {e}"))
    }

    /// Inserts `token` at byte offset `at` in one transaction; returns the clock range of the
    /// new block and the update frame, to be sent with [`send_update`](Self::send_update)
    /// (once the caller has noted the edit: another replica may have it right after).
    pub fn insert(&mut self, at: u32, token: &str) -> (Range<u32>, Bytes) {
        let own = self.client_id();
        let before = self.clock_of(own);
        let update = {
            let mut txn = self.doc.transact_mut();
            self.text.insert(&mut txn, at, token);
            txn.encode_update_v1()
        };
        (
            before..self.clock_of(own),
            sync(SyncMessage::Update(update)),
        )
    }

    /// Sends an update frame made by [`insert`](Self::insert).
    pub async fn send_update(&mut self, frame: Bytes) -> Result<(), String> {
        self.send(frame).await
    }

    /// Reads the next frame from the server and applies what it holds (cancel-safe while it
    /// waits); `Err` once the connection is gone.
    pub async fn next(&mut self) -> Result<Got, String> {
        let frame = loop {
            match self.ws.recv().await {
                Some(Ok(WsMessage::Binary(b))) => break b,
                Some(Ok(WsMessage::Close(f))) => {
                    return Err(format!("closed by the server: {f:?}"));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("connection failed: {e}")),
                None => return Err("closed".into()),
            }
        };
        let mut got = Got::default();
        let mut decoder = DecoderV1::from(&frame[..]);
        let messages: Vec<Message> = MessageReader::new(&mut decoder)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("undecodable frame: {e}"))?;
        for m in messages {
            match m {
                Message::Sync(SyncMessage::SyncStep1(sv)) => {
                    let u = self.doc.transact().encode_state_as_update_v1(&sv);
                    self.send(sync(SyncMessage::SyncStep2(u))).await?;
                }
                Message::Sync(SyncMessage::SyncStep2(u)) => {
                    self.apply(&u, &mut got)?;
                    got.synced = true;
                }
                Message::Sync(SyncMessage::Update(u)) => self.apply(&u, &mut got)?,
                _ => {} // awareness, auth: nothing the driver uses
            }
        }
        Ok(got)
    }

    fn apply(&mut self, bytes: &[u8], got: &mut Got) -> Result<(), String> {
        let update = Update::decode_v1(bytes).map_err(|e| format!("undecodable update: {e}"))?;
        let own = self.client_id();
        let before = self.doc.transact().state_vector();
        for (client, ranges) in update.insertions(true).iter() {
            for r in ranges.iter() {
                if client.get() == own {
                    self.echoed = self.echoed.max(r.end);
                } else if r.end <= before.get(client) {
                    got.repeated = true;
                }
            }
        }
        let mut txn = self.doc.transact_mut();
        txn.apply_update(update)
            .map_err(|e| format!("update not applied: {e}"))?;
        got.early |= txn.has_missing_updates();
        drop(txn);
        let after = self.doc.transact().state_vector();
        for (client, &end) in after.iter() {
            let start = before.get(client);
            if end > start && client.get() != own {
                got.integrated.push((client.get(), start..end));
            }
        }
        Ok(())
    }

    /// Closes the connection (the closing handshake, at most 2 s).
    pub async fn close(mut self) {
        let _ = self.ws.close(wsx::CloseCode::NORMAL, "").await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
            while self.ws.recv().await.is_some() {}
        })
        .await;
    }
}
