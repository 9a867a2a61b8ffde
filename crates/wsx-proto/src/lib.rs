//! Sans-I/O WebSocket protocol core: RFC 6455 framing, masking, UTF-8 rules, close codes and the
//! opening handshake, and RFC 7692 permessage-deflate. No async runtime, no sockets: byte
//! buffers in, messages and byte buffers out. The `wsx` crate drives it over tokio.

#![deny(missing_docs)]

pub mod close;
mod close_code;
mod compression;
pub mod deflate;
pub mod error;
mod extension;
pub mod frame;
pub mod handshake;
mod handshake_error;
pub mod mask;
pub mod message;
pub mod output;
pub mod protocol;
pub mod utf8;
mod utf8_bytes;

pub use close::{CloseCode, CloseFrame};
pub use deflate::{DeflateConfig, DeflateParams};
pub use error::{Error, ProtocolError};
pub use frame::OpCode;
pub use handshake::HandshakeError;
pub use message::{Message, Utf8Bytes};
pub use protocol::{Config, Connection, PreparedFrame, ReadyState, Role};
