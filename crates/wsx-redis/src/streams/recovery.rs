//! Connection state recovery across nodes, as Node's streams adapter does it: a disconnected
//! socket's session is kept in Redis, and any node gives it back with the broadcasts to its
//! rooms after its offset (the stream entry id of the last one it got), read from the stream.
//! A restoration also waits for the reader and then holds it, so that the socket gets each of
//! those broadcasts once.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rmpv::Value as Mp;
use serde_json::Value;
use wsx_socketio::cluster::{BoxFuture, RestoredSession, SessionState};
use wsx_socketio::socketio::Packet;

use super::entry::{Entry, decode_entry, text_fields};
use super::namespace::NsStream;
use super::node::StreamsShared;
use super::offset::{next_offset, parse_id, valid_offset};
use crate::codec::{self, map, s, strings};
use crate::lock::lock;
use crate::stream_reply;
use crate::wire::string_list;

/// How many `XRANGE` pages a restoration reads at most (Node: 100 calls).
const RESTORE_MAX_PAGES: usize = 100;
const RESTORE_PAGE: usize = 1000;

/// Stores `session` for `ttl` (Node's `persistSession`): `SET <prefix><pid>
/// base64(msgpack({sid, pid, rooms, data})) PX <ttl>`, tried a few times.
pub(super) fn persist(shared: &StreamsShared, session: SessionState, ttl: Duration) {
    let key = format!("{}{}", shared.session_key_prefix, session.pid);
    let value = B64.encode(codec::encode(&map(vec![
        ("sid", s(&session.sid)),
        ("pid", s(&session.pid)),
        ("rooms", strings(&session.rooms)),
        ("data", codec::from_json(&session.data)),
    ])));
    let mut conn = shared.conn.clone();
    let metrics = shared.node.metrics.clone();
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    shared.node.handle.spawn(async move {
        // A few tries: a session is worth keeping across a Redis hiccup.
        for attempt in 0..5u32 {
            let res: Result<(), _> = redis::cmd("SET")
                .arg(&key)
                .arg(&value)
                .arg("PX")
                .arg(ttl_ms)
                .query_async(&mut conn)
                .await;
            match res {
                Ok(()) => return,
                Err(e) => {
                    metrics.failed(&e);
                    tracing::warn!(error = %e, attempt, "wsx-redis: streams: cannot store a session");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
    });
}

/// Takes the session of `pid` back with the broadcasts to its rooms after `offset` (see the
/// module's guarantees), for namespace `st`; `None` if it expired, was taken, or its offset
/// is no longer in the stream.
pub(super) fn restore_session(
    shared: &StreamsShared,
    st: &Arc<NsStream>,
    pid: &str,
    offset: &str,
) -> BoxFuture<Option<RestoredSession>> {
    if !valid_offset(offset) {
        return Box::pin(async { None });
    }
    let key = format!("{}{pid}", shared.session_key_prefix);
    let (offset, nsp) = (offset.to_owned(), st.nsp.clone());
    let mut conn = shared.conn.clone();
    let stream = shared.stream.clone();
    let mut read_up_to = shared.read_up_to.subscribe();
    let (gate, st) = (shared.gate.clone(), st.clone());
    Box::pin(async move {
        let res = restore(&mut conn, &stream, &key, &offset, &nsp).await;
        let (mut restored, replayed_to) = match res {
            Ok(Some(r)) => r,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "wsx-redis: streams: cannot restore a session");
                return None;
            }
        };
        // The reader may not have handed out every replayed entry yet: once the socket is
        // back in its rooms it would get those twice. Wait (briefly) until it has.
        let replayed_to_pos = parse_id(&replayed_to).unwrap_or((0, 0));
        let caught_up = read_up_to.wait_for(|pos| *pos >= replayed_to_pos);
        let _ = tokio::time::timeout(Duration::from_secs(1), caught_up).await;
        // Then stop the reader until the socket is in its rooms (add_all), and replay what
        // it handed out since the first reading, which the socket would miss otherwise.
        let guard = gate.lock_owned().await;
        let read = *read_up_to.borrow();
        if read > replayed_to_pos {
            let to = format!("{}-{}", read.0, read.1);
            match replay(
                &mut conn,
                &stream,
                &nsp,
                &restored.session.rooms,
                &replayed_to,
                Some(&to),
            )
            .await
            {
                Ok((more, _)) => restored.missed.extend(more),
                Err(e) => {
                    tracing::warn!(error = %e, "wsx-redis: streams: cannot finish a restoration")
                }
            }
        }
        let sid = restored.session.sid.clone();
        lock(&st.restoring).insert(sid.clone(), (restored.session.rooms.clone(), guard));
        // If the socket never joins (its connection closed meanwhile), let go anyway.
        let weak = Arc::downgrade(&st);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if let Some(st) = weak.upgrade() {
                lock(&st.restoring).remove(&sid);
            }
        });
        Some(restored)
    })
}

/// Socket `id` joined rooms (`in_rooms` tells which it is in now): once it is back in all
/// those of its restored session, the reader may hand out again.
pub(super) fn joined(st: &NsStream, id: &str, in_rooms: impl FnOnce() -> Vec<String>) {
    let mut restoring = lock(&st.restoring);
    if let Some((expected, _)) = restoring.get(id) {
        let now = in_rooms();
        if expected.iter().all(|r| now.contains(r)) {
            // Back in its rooms: the reader may hand out again.
            restoring.remove(id);
        }
    }
}

/// Node's `restoreSession`: take the session (GET+DEL in one transaction), check that the
/// offset is still in the stream, then read the entries after it. Also returns the id of the
/// last entry read.
async fn restore(
    conn: &mut redis::aio::ConnectionManager,
    stream: &str,
    key: &str,
    offset: &str,
    nsp: &str,
) -> Result<Option<(RestoredSession, String)>, redis::RedisError> {
    let (raw,): (Option<String>,) = redis::pipe()
        .atomic()
        .cmd("GET")
        .arg(key)
        .cmd("DEL")
        .arg(key)
        .ignore()
        .query_async(conn)
        .await?;
    let here: redis::Value = redis::cmd("XRANGE")
        .arg(stream)
        .arg(offset)
        .arg(offset)
        .query_async(conn)
        .await?;
    let (Some(raw), false) = (raw, stream_reply::entries(&here, |_| ()).is_empty()) else {
        return Ok(None);
    };
    let Some(session) = B64.decode(&raw).ok().and_then(|b| codec::decode(&b)) else {
        tracing::warn!("wsx-redis: streams: ignoring a session that cannot be decoded");
        return Ok(None);
    };
    let json = codec::to_json(&session);
    let session = SessionState {
        sid: json["sid"].as_str().unwrap_or_default().to_owned(),
        pid: json["pid"].as_str().unwrap_or_default().to_owned(),
        rooms: string_list(&json["rooms"]),
        data: json.get("data").cloned().unwrap_or(Value::Null),
    };
    if session.sid.is_empty() {
        return Ok(None);
    }
    let (missed, last) = replay(conn, stream, nsp, &session.rooms, offset, None).await?;
    Ok(Some((RestoredSession { session, missed }, last)))
}

/// The broadcasts of namespace `nsp` to `rooms` in the stream after `after` (up to `upto`
/// included, or to its end), each with its id appended; and the id of the last entry read.
async fn replay(
    conn: &mut redis::aio::ConnectionManager,
    stream: &str,
    nsp: &str,
    rooms: &[String],
    after: &str,
    upto: Option<&str>,
) -> Result<(Vec<Packet>, String), redis::RedisError> {
    let mut missed = Vec::new();
    let mut from = after.to_owned();
    for _ in 0..RESTORE_MAX_PAGES {
        let Some(start) = next_offset(&from) else {
            break;
        };
        let page: redis::Value = redis::cmd("XRANGE")
            .arg(stream)
            .arg(&start)
            .arg(upto.unwrap_or("+"))
            .arg("COUNT")
            .arg(RESTORE_PAGE)
            .query_async(conn)
            .await?;
        let entries = stream_reply::entries(&page, text_fields);
        if entries.is_empty() {
            break;
        }
        for (id, fields) in entries {
            if fields.get("nsp").map(String::as_str) == Some(nsp)
                && fields.get("type").map(String::as_str) == Some("3")
                && let Some(Entry {
                    data: Some(data), ..
                }) = decode_entry(&fields)
                && let Some(Mp::Array(args)) =
                    codec::get(&data, "packet").and_then(|p| codec::get(p, "data"))
                && should_include(rooms, &codec::to_json(&data)["opts"])
            {
                let mut payload = codec::to_payload(args);
                payload.args.push(Value::String(id.clone()));
                missed.push(Packet::event(nsp, payload));
            }
            from = id;
        }
    }
    Ok((missed, from))
}

/// Whether a broadcast to `opts` reaches a socket in `rooms` (Node's `shouldIncludePacket`).
fn should_include(rooms: &[String], opts: &Value) -> bool {
    let list = |k: &str| string_list(&opts[k]);
    let (to, except) = (list("rooms"), list("except"));
    let included = to.is_empty() || rooms.iter().any(|r| to.contains(r));
    let excluded = rooms.iter().any(|r| except.contains(r));
    included && !excluded
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn packets_are_included_as_nodes_does() {
        let rooms = vec!["sid1".to_owned(), "news".to_owned()];
        assert!(should_include(&rooms, &json!({"rooms": [], "except": []})));
        assert!(should_include(
            &rooms,
            &json!({"rooms": ["news"], "except": []})
        ));
        assert!(!should_include(
            &rooms,
            &json!({"rooms": ["other"], "except": []})
        ));
        assert!(!should_include(
            &rooms,
            &json!({"rooms": [], "except": ["sid1"]})
        ));
    }
}
