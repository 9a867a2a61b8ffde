//! Event arguments as `emit` takes them ([`IntoArgs`]).

use bytes::Bytes;
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
