//! A received event ([`Event`]): its name, its arguments, and the means to acknowledge it.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ack::AckSender;
use crate::args::IntoArgs;
use crate::error::SocketError;
use crate::socketio::Data;

/// A received event: its arguments (the event name removed) and, if the sender asked for one,
/// the means to acknowledge it.
#[derive(Debug)]
pub struct Event {
    /// The event name.
    pub name: String,
    /// The arguments, binary attachments in place.
    pub args: Vec<Data>,
    /// Present when the sender waits for an acknowledgement.
    pub ack: Option<AckSender>,
}

impl Event {
    /// Argument `i` as JSON (`None` if missing or binary).
    pub fn json(&self, i: usize) -> Option<&Value> {
        match self.args.get(i)? {
            Data::Json(v) => Some(v),
            _ => None,
        }
    }

    /// Argument `i` deserialized into `T`.
    pub fn arg<T: DeserializeOwned>(&self, i: usize) -> Result<T, SocketError> {
        let v = self.json(i).cloned().unwrap_or(Value::Null);
        serde_json::from_value(v).map_err(|e| SocketError::Deserialize(e.to_string()))
    }

    /// Argument `i` when it is binary.
    pub fn binary(&self, i: usize) -> Option<&Bytes> {
        match self.args.get(i)? {
            Data::Binary(b) => Some(b),
            _ => None,
        }
    }

    /// Acknowledges the event with `args`, if the sender asked for it (returns whether an
    /// acknowledgement was sent).
    pub fn ack(&mut self, args: impl IntoArgs) -> bool {
        match self.ack.take() {
            Some(ack) => ack.send(args),
            None => false,
        }
    }
}
