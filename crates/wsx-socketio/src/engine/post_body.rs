//! Reading a polling POST's body: at most `max_payload` bytes, counted against the memory
//! budget while it arrives.

use std::task::Waker;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Longer than `max_payload`.
    TooLarge,
    /// The memory budget needed the memory back.
    OverBudget,
    /// The body failed (the client went away, a malformed chunk).
    Broken,
}

/// Reads the whole body; with a budget, what has arrived so far counts against it.
pub(crate) async fn read<B>(
    mut body: B,
    max: usize,
    budget: Option<&wsx::MemoryBudget>,
) -> Result<Bytes, BodyError>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut account = budget.map(wsx::MemoryBudget::account);
    let mut buf = BytesMut::new();
    let mut first: Option<Bytes> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Broken)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let len = first.as_ref().map_or(0, Bytes::len) + buf.len() + data.len();
        if len > max {
            return Err(BodyError::TooLarge);
        }
        // A body in one chunk (the usual case) is kept as it came, without a copy.
        match first.take() {
            None if buf.is_empty() => first = Some(data),
            held => {
                if let Some(held) = held {
                    buf.extend_from_slice(&held);
                }
                buf.extend_from_slice(&data);
            }
        }
        if let Some(a) = account.as_mut() {
            a.settle(len, Waker::noop());
            if a.evicted() {
                return Err(BodyError::OverBudget);
            }
        }
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}
