//! The WebSocket transport: sessions opened over WebSocket, and the upgrade of a polling
//! session (`2probe` → `3probe`, pending GET answered `6`, then `5`).

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tokio::time::timeout;
use wsx::hyper::Upgraded;

use super::session::{Out, Transport};
use super::{Body, Engine, ErrorCode, Message, RequestInfo, Session, error};
use crate::engineio::Packet;

type Ws = wsx::WebSocket<Upgraded>;

/// Answers an upgrade request: a new session, or the upgrade of polling session `sid`.
pub(crate) async fn upgrade<B>(
    engine: &Engine,
    req: &mut Request<B>,
    sid: Option<&str>,
) -> Response<Body> {
    // `Some(None)`: the session exists but cannot be upgraded (already on WebSocket, or
    // upgrading): Node accepts that WebSocket and closes it at once.
    let existing = match sid {
        None => None,
        Some(sid) => match engine.inner.live_session(sid) {
            Some(s) if s.can_upgrade() => Some(Some(s)),
            Some(_) => Some(None),
            None => return error(ErrorCode::UnknownSid),
        },
    };
    let info = RequestInfo::from_request(req);
    match wsx::hyper::upgrade(req, &engine.inner.acceptor) {
        Ok((response, fut)) => {
            let engine = engine.clone();
            tokio::spawn(async move {
                match fut.await {
                    Ok(ws) => match existing {
                        None => run_new(engine, ws, info),
                        Some(Some(session)) => run_upgrade(engine, ws, session).await,
                        Some(None) => {
                            let mut ws = ws;
                            let _ = ws.close(wsx::CloseCode::NORMAL, "").await;
                            while let Some(Ok(_)) = ws.recv().await {}
                        }
                    },
                    Err(e) => tracing::debug!(error = %e, "engine.io websocket upgrade failed"),
                }
            });
            response.map(|s| Full::new(Bytes::from(s)))
        }
        Err(rejection) => rejection.into_response().map(|s| Full::new(Bytes::from(s))),
    }
}

/// A session that lives on this WebSocket from its handshake on.
fn run_new(engine: Engine, ws: Ws, info: RequestInfo) {
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
fn spawn_read_loop(ws: Ws, session: Arc<Session>) {
    tokio::spawn(async move { read_loop(ws, &session).await });
}

/// Reads packets until the connection or the session ends.
async fn read_loop(mut ws: Ws, session: &Arc<Session>) {
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
                    session.deliver(Message::Text(body));
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
            session.deliver(Message::Binary(data));
            true
        }
        _ => true,
    }
}

/// The upgrade of a polling session: probe, wait for `5`, then carry the session.
async fn run_upgrade(engine: Engine, mut ws: Ws, session: Arc<Session>) {
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
