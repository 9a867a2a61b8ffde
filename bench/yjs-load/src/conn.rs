//! Opening a y-websocket connection with the wsx client.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpSocket;
use wsx::proto::handshake::ClientRequest;
use wsx::{Message, Options, WebSocket};

use crate::rxstream::{RxClock, RxStream};

/// A client's connection.
pub type Ws = WebSocket<RxStream>;

/// Errors of this driver are messages for a human.
pub type Error = String;

/// Opens a connection from `src` (port chosen by the kernel) to `server` at `path`. No
/// permessage-deflate is offered (y-websocket's server does not enable it either). Reads
/// update `clock` (see [`RxStream`]).
pub async fn open(
    server: SocketAddr,
    src: Option<IpAddr>,
    path: &str,
    clock: &RxClock,
) -> Result<Ws, Error> {
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
    let req = ClientRequest::new(server.to_string(), path);
    let (ws, _resp) = wsx::client_handshake(tcp, &req, Options::default(), None)
        .await
        .map_err(|e| format!("websocket handshake: {e}"))?;
    Ok(ws)
}

/// [`open`], tried three times within `limit` each (a loaded server may drop a SYN).
pub async fn open_with_retries(
    server: SocketAddr,
    src: Option<IpAddr>,
    path: &str,
    limit: Duration,
    clock: &RxClock,
) -> Result<Ws, Error> {
    let mut last = String::new();
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        }
        match tokio::time::timeout(limit, open(server, src, path, clock)).await {
            Ok(Ok(ws)) => return Ok(ws),
            Ok(Err(e)) => last = e,
            Err(_) => last = format!("handshake took over {limit:?}"),
        }
    }
    Err(last)
}

/// Sends one binary frame and waits until it is written.
pub async fn send(ws: &mut Ws, frame: bytes::Bytes) -> Result<(), Error> {
    ws.send(Message::Binary(frame))
        .await
        .map_err(|e| format!("write: {e}"))
}
