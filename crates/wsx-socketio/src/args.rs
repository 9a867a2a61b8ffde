//! Event arguments: what handlers receive ([`Event`]) and what `emit` takes ([`IntoArgs`]).

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::socketio::Data;

/// Things `emit` accepts as the event's arguments, mirroring JS's variadic `emit(ev, ...args)`.
///
/// - `()`: no argument;
/// - one value: a [`serde_json::Value`], a [`Data`], [`Bytes`] (a binary argument), a string;
/// - a tuple of up to four of those: that many arguments;
/// - a `Vec<Data>`: its elements.
///
/// Any `Serialize` type becomes one argument with [`Data::json`](crate::socketio::Data).
pub trait IntoArgs {
    /// The arguments.
    fn into_args(self) -> Vec<Data>;
}

impl IntoArgs for () {
    fn into_args(self) -> Vec<Data> {
        Vec::new()
    }
}

impl IntoArgs for Vec<Data> {
    fn into_args(self) -> Vec<Data> {
        self
    }
}

macro_rules! one_arg {
    ($($t:ty),*) => {$(
        impl IntoArgs for $t {
            fn into_args(self) -> Vec<Data> {
                vec![Data::from(self)]
            }
        }
    )*};
}
one_arg!(Data, Value, Bytes, &str, String, serde_json::Map<String, Value>, i32, i64, u32, u64, f64, bool);

macro_rules! tuple_args {
    ($($name:ident),+) => {
        impl<$($name: Into<Data>),+> IntoArgs for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_args(self) -> Vec<Data> {
                let ($($name,)+) = self;
                vec![$($name.into()),+]
            }
        }
    };
}
tuple_args!(A);
tuple_args!(A, B);
tuple_args!(A, B, C);
tuple_args!(A, B, C, D);

/// A received event: its arguments (the event name removed) and, if the sender asked for one,
/// the means to acknowledge it.
#[derive(Debug)]
pub struct Event {
    /// The event name.
    pub name: String,
    /// The arguments, binary attachments in place.
    pub args: Vec<Data>,
    /// Present when the sender waits for an acknowledgement.
    pub ack: Option<crate::ack::AckSender>,
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
    pub fn arg<T: DeserializeOwned>(&self, i: usize) -> Result<T, crate::SocketError> {
        let v = self.json(i).cloned().unwrap_or(Value::Null);
        serde_json::from_value(v).map_err(|e| crate::SocketError::Deserialize(e.to_string()))
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
