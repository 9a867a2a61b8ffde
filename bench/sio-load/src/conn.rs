//! One Socket.IO client connection over the Engine.IO websocket transport, opened by hand:
//! TCP from a chosen source address, the WebSocket handshake, Engine.IO `open`, then the
//! Socket.IO CONNECT to `/`.

use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpSocket;
use wsx::proto::handshake::ClientRequest;
use wsx::{Message, Options, WebSocket};
use wsx_socketio::{engineio, socketio};

use crate::rxstream::{RxClock, RxStream};

/// A receiver's or the publisher's connection.
pub type Ws = WebSocket<RxStream>;

/// Errors of this driver are messages for a human.
pub type Error = String;

/// The Engine.IO websocket endpoint.
pub const PATH: &str = "/socket.io/?EIO=4&transport=websocket";

/// What the server told us while connecting.
#[derive(Debug, Clone)]
pub struct Opened {
    pub ping_interval_ms: u64,
}

/// Opens a connection from `src` (port chosen by the kernel) to `server` and completes the
/// Engine.IO and Socket.IO handshakes: `0{…}` in, `40` out, `40{"sid":…}` in. Engine.IO pings
/// that arrive meanwhile are answered. Reads update `clock` (see [`RxStream`]).
pub async fn open(
    server: SocketAddr,
    src: Option<IpAddr>,
    clock: &RxClock,
) -> Result<(Ws, Opened), Error> {
    let sock = match server {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| format!("socket: {e}"))?;
    if let Some(ip) = src {
        sock.bind(SocketAddr::new(ip, 0))
            .map_err(|e| format!("bind {ip}: {e}"))?;
    }
    let tcp = sock
        .connect(server)
        .await
        .map_err(|e| format!("connect {server}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let tcp = RxStream::new(tcp, clock);
    // No permessage-deflate offered: Node's socket.io does not enable it by default either.
    let req = ClientRequest::new(server.to_string(), PATH);
    let (mut ws, _resp) = wsx::client_handshake(tcp, &req, Options::default(), None)
        .await
        .map_err(|e| format!("websocket handshake: {e}"))?;

    let text = next_text(&mut ws).await?;
    let opened = match engineio::Packet::decode_text(&text) {
        Ok(engineio::Packet::Open(h)) => Opened {
            ping_interval_ms: h.ping_interval,
        },
        other => return Err(format!("expected the Engine.IO open packet, got {other:?}")),
    };
    send_text(&mut ws, "40").await?;
    let mut decoder = socketio::Decoder::new();
    loop {
        let text = next_text(&mut ws).await?;
        match engineio::Packet::decode_text(&text) {
            Ok(engineio::Packet::Ping(_)) => send_text(&mut ws, "3").await?,
            Ok(engineio::Packet::Message(m)) => match decoder.decode_text(&m) {
                Ok(Some(p)) => match p.data {
                    socketio::PacketData::Connect(Some(map)) if map.contains_key("sid") => {
                        return Ok((ws, opened));
                    }
                    socketio::PacketData::ConnectError(e) => {
                        return Err(format!("CONNECT_ERROR {e}"));
                    }
                    other => return Err(format!("expected CONNECT, got {other:?}")),
                },
                other => return Err(format!("bad Socket.IO packet {m:?}: {other:?}")),
            },
            other => return Err(format!("unexpected Engine.IO packet {other:?}")),
        }
    }
}

/// The next text message (Engine.IO over WebSocket sends nothing else here).
async fn next_text(ws: &mut Ws) -> Result<wsx::Utf8Bytes, Error> {
    loop {
        match ws.recv().await {
            Some(Ok(Message::Text(t))) => return Ok(t),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(other)) => return Err(format!("unexpected message {other:?}")),
            Some(Err(e)) => return Err(format!("read: {e}")),
            None => return Err("connection closed".into()),
        }
    }
}

/// Sends one text frame and waits until it is written.
pub async fn send_text(ws: &mut Ws, text: impl Into<String>) -> Result<(), Error> {
    ws.send(Message::text(text.into()))
        .await
        .map_err(|e| format!("write: {e}"))
}

/// `42<id>["<event>","<payload>"]`: an EVENT asking for an ack, as one Engine.IO message.
pub fn event_frame(event: &str, payload: &str, ack_id: u64) -> Result<String, Error> {
    let packet = socketio::Packet::event(
        "/",
        socketio::Payload::new(vec![event.into(), payload.into()]),
    )
    .with_ack_id(ack_id);
    let mut buf = bytes::BytesMut::with_capacity(payload.len() + 32);
    packet
        .encode_eio_message(&mut buf)
        .map_err(|e| format!("encode: {e}"))?;
    String::from_utf8(buf.to_vec()).map_err(|e| format!("encode: {e}"))
}
