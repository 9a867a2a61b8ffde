//! The WebSocket transport: sessions opened over WebSocket, and the upgrade of a polling
//! session (`2probe` → `3probe`, pending GET answered `6`, then `5`).

use std::sync::Arc;
use tracing::Instrument as _;

use bytes::{Bytes, BytesMut};
use http::{Request, Response};
use http_body_util::BodyExt;
use http_body_util::Full;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

use super::session::{Out, Transport};
use super::{Body, Engine, ErrorCode, MessageData, RequestInfo, Session, error};
use crate::engineio::Packet;

type Ws<S> = wsx::WebSocket<S>;

/// What an upgrade request with this sid (or none) leads to; `Err`: an unknown sid.
enum Target {
    /// A new session on the WebSocket.
    New,
    /// The upgrade of this polling session.
    Upgrade(Arc<Session>),
    /// The session exists but cannot be upgraded (already on WebSocket, or upgrading): Node
    /// accepts that WebSocket and closes it at once.
    Refuse,
}

fn target(engine: &Engine, sid: Option<&str>) -> Result<Target, ErrorCode> {
    match sid {
        None => Ok(Target::New),
        Some(sid) => match engine.inner.live_session(sid) {
            Some(s) if s.can_upgrade() => Ok(Target::Upgrade(s)),
            Some(_) => Ok(Target::Refuse),
            None => Err(ErrorCode::UnknownSid),
        },
    }
}

/// Runs the accepted WebSocket as `target` says.
async fn run<S>(engine: Engine, ws: Ws<S>, target: Target, info: RequestInfo)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match target {
        Target::New => run_new(engine, ws, info),
        Target::Upgrade(session) => run_upgrade(engine, ws, session).await,
        Target::Refuse => {
            let mut ws = ws;
            let _ = ws.close(wsx::CloseCode::NORMAL, "").await;
            while let Some(Ok(_)) = ws.recv().await {}
        }
    }
}

/// Answers an upgrade request: a new session, or the upgrade of polling session `sid`.
pub(crate) async fn upgrade<B>(
    engine: &Engine,
    req: &mut Request<B>,
    sid: Option<&str>,
) -> Response<Body> {
    let target = match target(engine, sid) {
        Ok(t) => t,
        Err(code) => return error(code),
    };
    let info = RequestInfo::from_request(req);
    match wsx::hyper::upgrade(req, &engine.inner.acceptor) {
        Ok((response, fut)) => {
            let engine = engine.clone();
            tokio::spawn(async move {
                match fut.await {
                    Ok(ws) => run(engine, ws, target, info).await,
                    Err(e) => tracing::debug!(error = %e, "engine.io websocket upgrade failed"),
                }
            });
            response.map(|s| Full::new(Bytes::from(s)))
        }
        Err(rejection) => rejection.into_response().map(|s| Full::new(Bytes::from(s))),
    }
}

/// [`upgrade`] on a connection the engine's own server read the request from: the answer is
/// written there, and the session runs on the connection itself.
pub(crate) async fn upgrade_raw<S>(
    engine: &Engine,
    req: &mut Request<()>,
    mut io: S,
    leftover: BytesMut,
    sid: Option<&str>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let target = match target(engine, sid) {
        Ok(t) => t,
        Err(code) => {
            let (parts, body) = error(code).into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let mut out = Vec::new();
            wsx_proto::handshake::write_response(&Response::from_parts(parts, ()), &body, &mut out);
            let _ = io.write_all(&out).await;
            let _ = io.shutdown().await;
            return;
        }
    };
    let info = RequestInfo::from_request(req);
    // The peer address is in the session's request info: the WebSocket need not keep its own
    // copy (without one it shares an empty connection info, about 100 bytes less per client).
    match engine
        .inner
        .acceptor
        .accept_request(io, req, leftover, None)
        .await
    {
        Ok(ws) => run(engine.clone(), ws, target, info).await,
        Err(e) => tracing::debug!(error = %e, "engine.io websocket upgrade failed"),
    }
}

/// A session that lives on this WebSocket from its handshake on.
fn run_new<S>(engine: Engine, ws: Ws<S>, info: RequestInfo)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let sender = ws.sender();
    let session = Session::new(info, Transport::WebSocket(sender.clone()), &engine);
    let Out::Text(open) = session.open_packet(&engine.inner, Vec::new()) else {
        return;
    };
    let _ = sender.send(wsx::Message::Text(open));
    engine.register(&session);
    spawn_read_loop(ws, session);
}

/// Reads the session's packets on a task of its own, so that what the upgrade needed (the
/// request, hyper's upgrade future, the probe) is freed rather than kept for the life of the
/// connection inside one large future: about 600 bytes less per idle client.
fn spawn_read_loop<S>(ws: Ws<S>, session: Arc<Session>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let span = super::session_span(&session, "websocket");
    tokio::spawn(async move { read_loop(ws, &session).await }.instrument(span));
}

/// Reads packets until the connection or the session ends.
async fn read_loop<S>(mut ws: Ws<S>, session: &Arc<Session>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let reason = loop {
        match ws.recv().await {
            Some(Ok(msg)) => {
                if !dispatch(session, msg) {
                    break super::CloseReason::ParseError;
                }
            }
            Some(Err(e)) => {
                tracing::debug!(sid = session.sid(), error = %e, "engine.io websocket error");
                break super::CloseReason::TransportError;
            }
            None => break super::CloseReason::TransportClose,
        }
    };
    session.close(reason);
    // Finish the closing handshake (or notice the peer is gone) without blocking the session.
    while let Some(Ok(_)) = ws.recv().await {}
}

/// Hands one frame to the session; `false` if it does not decode.
fn dispatch(session: &Arc<Session>, msg: wsx::Message) -> bool {
    match msg {
        wsx::Message::Text(text) => {
            if text.as_bytes().first() == Some(&b'4') {
                if let Some(body) = text.slice_from(1) {
                    session.deliver(MessageData::Text(body));
                    return true;
                }
            }
            match Packet::decode_text(&text) {
                Ok(packet) => {
                    session.on_packet(packet);
                    true
                }
                Err(_) => false,
            }
        }
        wsx::Message::Binary(data) => {
            session.deliver(MessageData::Binary(data));
            true
        }
        _ => true,
    }
}

/// The upgrade of a polling session: probe, wait for `5`, then carry the session.
async fn run_upgrade<S>(engine: Engine, mut ws: Ws<S>, session: Arc<Session>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let sender = ws.sender();
    let probe = async {
        let mut probed = false;
        while let Some(Ok(msg)) = ws.recv().await {
            let wsx::Message::Text(text) = msg else {
                return false;
            };
            match Packet::decode_text(&text) {
                Ok(p) if p.is_probe() && matches!(p, Packet::Ping(_)) && !probed => {
                    let mut scratch = bytes::BytesMut::new();
                    if let crate::engineio::WsFrame::Text(t) =
                        Packet::pong_probe().to_ws_frame(&mut scratch)
                    {
                        if let Ok(t) = wsx::Utf8Bytes::try_from(t) {
                            let _ = sender.send(wsx::Message::Text(t));
                        }
                    }
                    if !session.begin_upgrade(&sender) {
                        return false;
                    }
                    probed = true;
                }
                Ok(Packet::Upgrade) if probed => return session.finish_upgrade(&sender),
                Ok(Packet::Noop) => {}
                _ => return false,
            }
        }
        false
    };
    let upgraded = matches!(
        timeout(engine.inner.config.upgrade_timeout, probe).await,
        Ok(true)
    );
    if !upgraded {
        session.cancel_upgrade(&sender);
        let _ = ws.close(wsx::CloseCode::NORMAL, "").await;
        return;
    }
    debug_assert!(session.is_transport(&sender));
    spawn_read_loop(ws, session);
}
