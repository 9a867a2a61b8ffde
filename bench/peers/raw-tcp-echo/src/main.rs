//! The syscall floor for `bench/run.sh`: `raw-tcp-echo ADDR`, on a `current_thread` runtime.
//!
//! The load generator (`wsx bench`) speaks WebSocket and checks every echo, so a plain TCP
//! echo would send back masked client frames, which a client must reject. This server does
//! the least a WebSocket echo can: a minimal opening handshake (no validation beyond finding
//! `Sec-WebSocket-Key`), then per read it walks the complete frames in its buffer, unmasks
//! each payload in place, rewrites the header in place without the mask (a pong for a ping),
//! packs the frames together and writes them back with one `write_all`: one read and one
//! write per batch, no per-message allocation, no UTF-8 check, no limits. A close frame is
//! echoed and ends the connection. Each connection owns a 4 KiB buffer that grows for big
//! frames (like a naive "read into a buffer, write it back" TCP echo).

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await.expect("bind");
        eprintln!("raw-tcp-echo listening on {addr}");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = conn(stream).await;
            });
        }
    });
}

async fn conn(mut s: TcpStream) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    // Opening handshake.
    let end = loop {
        if s.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 16 << 10 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let Some(key) = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("sec-websocket-key")
            .then(|| v.trim().to_owned())
    }) else {
        return Ok(());
    };
    let mut h = sha1_smol::Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    let accept = base64::engine::general_purpose::STANDARD.encode(h.digest().bytes());
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    s.write_all(resp.as_bytes()).await?;
    buf.drain(..end);

    loop {
        // Walk the complete frames; output frames are packed from `out` to `w`.
        let (mut pos, mut out, mut w, mut closing) = (0usize, usize::MAX, 0usize, false);
        let mut need = 0usize;
        while buf.len() - pos >= 2 {
            let (b0, b1) = (buf[pos], buf[pos + 1]);
            if b1 & 0x80 == 0 {
                return Ok(()); // unmasked client frame: protocol error, just drop
            }
            let (ext, len) = match b1 & 0x7f {
                126 if buf.len() - pos >= 4 => {
                    (2, u16::from_be_bytes([buf[pos + 2], buf[pos + 3]]) as usize)
                }
                127 if buf.len() - pos >= 10 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&buf[pos + 2..pos + 10]);
                    (8, u64::from_be_bytes(b) as usize)
                }
                126 | 127 => break,
                n => (0, n as usize),
            };
            let data = pos + 2 + ext + 4;
            if buf.len() < data + len {
                need = data + len - pos;
                break;
            }
            let mask = [buf[data - 4], buf[data - 3], buf[data - 2], buf[data - 1]];
            for (i, b) in buf[data..data + len].iter_mut().enumerate() {
                *b ^= mask[i & 3];
            }
            // The unmasked header goes right before the payload (4 bytes later than it was).
            let opcode = b0 & 0x0f;
            let start = pos + 4;
            buf.copy_within(pos + 1..pos + 2 + ext, start + 1);
            buf[start] = if opcode == 0x9 { (b0 & 0xf0) | 0xA } else { b0 };
            buf[start + 1] &= 0x7f;
            let frame_end = data + len;
            if opcode != 0xA {
                if out == usize::MAX {
                    out = start;
                    w = start;
                }
                if start != w {
                    buf.copy_within(start..frame_end, w);
                }
                w += frame_end - start;
            }
            pos = frame_end;
            if opcode == 0x8 {
                closing = true;
                break;
            }
        }
        if out != usize::MAX {
            s.write_all(&buf[out..w]).await?;
        }
        if closing {
            let _ = s.shutdown().await;
            return Ok(());
        }
        buf.drain(..pos);
        if need > buf.capacity() {
            buf.reserve(need - buf.len());
        } else if buf.is_empty() && buf.capacity() > 64 << 10 {
            buf = Vec::with_capacity(4096);
        } else if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        if s.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}
