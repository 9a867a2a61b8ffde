//! A y-websocket client in Rust: a yrs document kept in sync with a room of any y-websocket
//! server (this crate's, Node's, ...), for bots, tests and load generators.

use std::collections::VecDeque;

use bytes::Bytes;
use wsx::{ClientBuilder, CloseFrame, MaybeTlsStream, Message, WebSocket};
use yrs::sync::{Awareness, AwarenessUpdate};
use yrs::{Doc, ReadTxn, Transact, TransactionMut};

use crate::error::{Error, Result};
use crate::message::{self, Incoming};

/// What the server sent, as [`YjsClient::next`] reports it.
#[derive(Debug)]
pub enum Event {
    /// The server's SyncStep2 was applied: the document has everything the server had when it
    /// answered.
    Synced,
    /// A document update was applied.
    Update,
    /// An awareness update was applied.
    Awareness(AwarenessUpdate),
    /// The server refused something (an Auth message with its reason).
    Denied,
    /// The connection closed (the close frame, if the server sent one).
    Closed(Option<CloseFrame>),
}

/// A document synchronised with one room.
///
/// ```no_run
/// # async fn demo() -> wsx_yjs::Result<()> {
/// use wsx_yjs::client::YjsClient;
/// use yrs::{GetString, Text, Transact};
///
/// let mut c = YjsClient::connect("ws://127.0.0.1:8080/yjs/notes").await?;
/// c.wait_synced().await?;
/// let text = c.doc().get_or_insert_text("t");
/// c.edit(|txn| text.push(txn, "hello")).await?;
/// println!("{}", text.get_string(&c.doc().transact()));
/// # Ok(()) }
/// ```
pub struct YjsClient {
    ws: WebSocket<MaybeTlsStream>,
    awareness: Awareness,
    synced: bool,
    /// Messages of a frame not yet handled (a frame may carry several).
    pending: VecDeque<Incoming>,
}

impl std::fmt::Debug for YjsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YjsClient")
            .field("synced", &self.synced)
            .finish_non_exhaustive()
    }
}

impl YjsClient {
    /// Connects to a room's URL (`ws://HOST/yjs/<room>` for `wsx serve`) with a new document.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(ClientBuilder::new(url), Doc::new()).await
    }

    /// Connects with a builder of your own (headers, subprotocols, TLS) and a document.
    pub async fn connect_with(builder: ClientBuilder, doc: Doc) -> Result<Self> {
        let (ws, _) = builder.connect().await?;
        let mut c = Self {
            ws,
            awareness: Awareness::new(doc),
            synced: false,
            pending: VecDeque::new(),
        };
        let sv = c.awareness.doc().transact().state_vector();
        c.send_raw(message::sync_step1(&sv)).await?;
        Ok(c)
    }

    /// The document.
    pub fn doc(&self) -> &Doc {
        self.awareness.doc()
    }

    /// The awareness states known to this client.
    pub fn awareness(&self) -> &Awareness {
        &self.awareness
    }

    /// Whether the server's SyncStep2 has arrived.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Changes the document in one transaction and sends the update.
    pub async fn edit<R>(&mut self, f: impl FnOnce(&mut TransactionMut<'_>) -> R) -> Result<R> {
        let (r, update) = {
            let mut txn = self.awareness.doc().transact_mut();
            let r = f(&mut txn);
            // Before the commit, which squashes the new blocks into their neighbours (encoding
            // out of a squashed string block walks the whole string).
            let update = txn.encode_update_v1();
            txn.commit();
            (r, update)
        };
        self.send_raw(message::update(&update)).await?;
        Ok(r)
    }

    /// Sets this client's awareness state (a JSON value) and sends it.
    pub async fn set_awareness(&mut self, state: &serde_json::Value) -> Result<()> {
        self.awareness
            .set_local_state(state)
            .map_err(|e| Error::Malformed(e.to_string()))?;
        let id = self.awareness.client_id();
        let u = self
            .awareness
            .update_with_clients([id])
            .map_err(|e| Error::Malformed(e.to_string()))?;
        self.send_raw(message::awareness(&u)).await
    }

    /// Sends a frame as it is (for tests of what a server does with bad input).
    pub async fn send_raw(&mut self, frame: impl Into<Bytes>) -> Result<()> {
        self.ws.send(Message::binary(frame.into())).await?;
        Ok(())
    }

    /// Handles the server's messages until the next event.
    pub async fn next(&mut self) -> Result<Event> {
        loop {
            let Some(msg) = self.pending.pop_front() else {
                let frame = match self.ws.recv().await {
                    None => return Ok(Event::Closed(None)),
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Close(f))) => return Ok(Event::Closed(f)),
                    Some(Ok(_)) => continue,
                };
                self.pending.extend(message::read_frame(&frame)?);
                continue;
            };
            match msg {
                Incoming::SyncStep1(sv) => {
                    let u = self.doc().transact().encode_state_as_update_v1(&sv);
                    self.send_raw(message::sync_step2(&u)).await?;
                }
                Incoming::SyncStep2(u) => {
                    self.doc().transact_mut().apply_update(u)?;
                    self.synced = true;
                    return Ok(Event::Synced);
                }
                Incoming::Update(u) => {
                    self.doc().transact_mut().apply_update(u)?;
                    return Ok(Event::Update);
                }
                Incoming::Awareness(u) => {
                    let _ = self.awareness.apply_update(u.clone());
                    return Ok(Event::Awareness(u));
                }
                Incoming::QueryAwareness => {
                    if let Ok(u) = self.awareness.update() {
                        self.send_raw(message::awareness(&u)).await?;
                    }
                }
                Incoming::Auth => return Ok(Event::Denied),
            }
        }
    }

    /// Waits for the server's SyncStep2.
    pub async fn wait_synced(&mut self) -> Result<()> {
        while !self.synced {
            if let Event::Closed(f) = self.next().await? {
                return Err(closed(f));
            }
        }
        Ok(())
    }

    /// Handles messages until `done(doc)` holds.
    pub async fn wait_until(&mut self, mut done: impl FnMut(&Doc) -> bool) -> Result<()> {
        while !done(self.doc()) {
            if let Event::Closed(f) = self.next().await? {
                return Err(closed(f));
            }
        }
        Ok(())
    }

    /// Starts the closing handshake and waits for it to finish.
    pub async fn close(mut self) -> Result<()> {
        self.ws.close(wsx::CloseCode::NORMAL, "").await?;
        while self.ws.recv().await.is_some() {}
        Ok(())
    }
}

fn closed(f: Option<CloseFrame>) -> Error {
    Error::WebSocket(wsx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        match f {
            Some(f) => format!("closed by the server: {} {}", f.code.0, f.reason),
            None => "closed by the server".to_owned(),
        },
    )))
}
