//! A client of the demo chat at `/chat` (crates/wsx-cli/web/PROTOCOL.md): connect and read
//! the `welcome`, `join` a room and wait for `joined`, `say`, and read the `message`s said in
//! the room (presence updates, which list every member, are skipped without being parsed).

use std::time::Duration;

use serde::Deserialize;
use wsx::{ClientBuilder, MaybeTlsStream, Message, WebSocket};

/// The chat's subprotocol.
const PROTOCOL: &str = "wsx.chat.v1";

pub struct ChatConn {
    ws: WebSocket<MaybeTlsStream>,
}

/// A chat line as the members receive it.
#[derive(Deserialize)]
pub struct Said {
    pub nick: String,
    pub text: String,
}

/// What came from the server.
pub enum Incoming {
    Message(Said),
    /// Anything else (presence, joined, errors).
    Other,
    Closed(String),
}

impl ChatConn {
    /// Connects to `ws://ADDR/chat` and reads the welcome.
    pub async fn connect(addr: &str) -> Result<ChatConn, String> {
        let (ws, _) = ClientBuilder::new(format!("ws://{addr}/chat"))
            .protocol(PROTOCOL)
            .connect()
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let mut c = ChatConn { ws };
        match c.next_text().await {
            Ok(t) if t.starts_with(r#"{"type":"welcome""#) => Ok(c),
            Ok(t) => Err(format!("expected a welcome, got {t}")),
            Err(e) => Err(e),
        }
    }

    async fn next_text(&mut self) -> Result<String, String> {
        loop {
            match self.ws.recv().await {
                Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
                Some(Ok(Message::Close(f))) => return Err(format!("closed by the server: {f:?}")),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("connection failed: {e}")),
                None => return Err("closed".into()),
            }
        }
    }

    /// Joins `room` as `nick` and waits for the server's `joined` (at most `limit`).
    pub async fn join(&mut self, room: &str, nick: &str, limit: Duration) -> Result<(), String> {
        let req = serde_json::json!({"type": "join", "room": room, "nick": nick});
        self.send(req.to_string()).await?;
        let wait = async {
            loop {
                let t = self.next_text().await?;
                if t.starts_with(r#"{"type":"joined""#) {
                    return Ok(());
                }
                if t.starts_with(r#"{"type":"error""#) {
                    return Err(format!("join refused: {t}"));
                }
            }
        };
        tokio::time::timeout(limit, wait)
            .await
            .map_err(|_| format!("no `joined` within {limit:?}"))?
    }

    /// Says `text` in the room joined.
    pub async fn say(&mut self, text: &str) -> Result<(), String> {
        self.send(serde_json::json!({"type": "say", "text": text}).to_string())
            .await
    }

    async fn send(&mut self, text: String) -> Result<(), String> {
        self.ws
            .send(Message::text(text))
            .await
            .map_err(|e| format!("write failed: {e}"))
    }

    /// The next thing from the server (cancel-safe: nothing is lost if dropped while waiting).
    pub async fn next(&mut self) -> Incoming {
        match self.ws.recv().await {
            Some(Ok(Message::Text(t))) => {
                let t = t.as_str();
                // Only chat lines are parsed (the type is the first field the server writes).
                if !t.starts_with(r#"{"type":"message","#) {
                    return Incoming::Other;
                }
                match serde_json::from_str(t) {
                    Ok(said) => Incoming::Message(said),
                    Err(e) => Incoming::Closed(format!("bad message {t}: {e}")),
                }
            }
            Some(Ok(Message::Close(f))) => Incoming::Closed(format!("closed by the server: {f:?}")),
            Some(Ok(_)) => Incoming::Other,
            Some(Err(e)) => Incoming::Closed(format!("connection failed: {e}")),
            None => Incoming::Closed("closed".into()),
        }
    }

    /// Closes the connection (the closing handshake, at most 2 s).
    pub async fn close(mut self) {
        let _ = self.ws.close(wsx::CloseCode::NORMAL, "").await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while self.ws.recv().await.is_some() {}
        })
        .await;
    }
}
