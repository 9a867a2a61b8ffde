//! A Socket.IO packet encoded once into Engine.IO frames, shared by every receiver.

use bytes::BytesMut;

use crate::engine::Out;
use crate::error::Result;
use crate::socketio::Packet;

/// The frames of one packet: the text frame (`4` + the Socket.IO text) and one binary frame
/// per attachment. Cloning a frame clones a reference to its bytes.
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    frames: Vec<Out>,
}

impl Encoded {
    pub(crate) fn new(packet: &Packet) -> Result<Self> {
        let mut buf = BytesMut::new();
        packet.encode_eio_message(&mut buf)?;
        let mut frames = Vec::with_capacity(1 + packet.attachments().len());
        frames.push(Out::text(buf.freeze()));
        frames.extend(packet.attachments().iter().cloned().map(Out::Binary));
        Ok(Encoded { frames })
    }

    pub(crate) fn frames(&self) -> impl Iterator<Item = Out> + '_ {
        self.frames.iter().cloned()
    }

    /// The WebSocket message, when the packet is one frame (no binary attachments).
    pub(crate) fn single_ws(&self) -> Option<wsx::Message> {
        match self.frames.as_slice() {
            [one] => Some(one.to_ws()),
            _ => None,
        }
    }
}
