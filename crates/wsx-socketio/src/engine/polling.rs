//! The HTTP long-polling transport: the handshake GET, the waiting GET that carries the
//! server's packets, and the POST that carries the client's.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;

use super::post_body::{self, BodyError};
use super::session::{Out, Transport};
use super::{Body, Engine, ErrorCode, Session, error, plain};
use crate::engineio::PayloadDecoder;

/// A new session over polling: the GET's answer is the `open` packet.
pub(crate) fn handshake<B>(engine: &Engine, req: &Request<B>) -> Response<Body> {
    let info = super::RequestInfo::from_request(req);
    let session = Session::new(info, Transport::Polling, engine);
    let upgrades = if engine.inner.config.websocket {
        vec!["websocket".to_owned()]
    } else {
        Vec::new()
    };
    let Out::Text(open) = session.open_packet(&engine.inner, upgrades) else {
        return error(ErrorCode::BadRequest);
    };
    engine.register(&session);
    payload(open.into_bytes())
}

/// Ends the session if the GET future is dropped before answering (the client went away).
struct PollGuard<'a> {
    session: &'a Arc<Session>,
    answered: bool,
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.session.abort_poll();
        }
    }
}

/// A GET on an open session: answered with every queued packet, waiting until there is one.
pub(crate) async fn get(session: Arc<Session>) -> Response<Body> {
    match session.begin_poll() {
        Err(()) => return error(ErrorCode::BadRequest),
        Ok(false) => {
            // Node closes the session on overlapping GETs; the first one gets `1`.
            session.close(super::CloseReason::TransportError);
            return error(ErrorCode::BadRequest);
        }
        Ok(true) => {}
    }
    let mut guard = PollGuard {
        session: &session,
        answered: false,
    };
    loop {
        let notified = session.poll_notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(body) = session.take_poll_body() {
            guard.answered = true;
            return payload(body);
        }
        notified.await;
    }
}

/// A POST: the client's packets, at most `max_payload` bytes.
pub(crate) async fn post<B>(engine: &Engine, session: Arc<Session>, body: B) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match session.begin_post() {
        Ok(()) => {}
        Err(overlap) => {
            if overlap {
                session.close(super::CloseReason::TransportError);
            }
            return error(ErrorCode::BadRequest);
        }
    }
    let config = &engine.inner.config;
    let max = config.max_payload;
    let bytes = match post_body::read(body, max, config.memory_budget.as_ref()).await {
        Ok(bytes) => bytes,
        Err(e) => {
            session.end_post();
            session.close(super::CloseReason::TransportError);
            return match e {
                BodyError::TooLarge => plain(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large"),
                BodyError::OverBudget => {
                    plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
                }
                BodyError::Broken => error(ErrorCode::BadRequest),
            };
        }
    };
    let result = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| PayloadDecoder::new(text, max).ok())
        .map(|packets| {
            for packet in packets {
                match packet {
                    Ok(packet) => session.on_packet(packet),
                    Err(_) => return false,
                }
            }
            true
        });
    session.end_post();
    if result != Some(true) {
        session.close(super::CloseReason::ParseError);
        return error(ErrorCode::BadRequest);
    }
    let mut resp = Response::new(Full::new(Bytes::from_static(b"ok")));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    resp
}

/// A 200 answer carrying a polling payload.
fn payload(body: Bytes) -> Response<Body> {
    let mut resp = Response::new(Full::new(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    resp
}
