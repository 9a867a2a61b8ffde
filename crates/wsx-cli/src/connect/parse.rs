//! Parsing what the user gives `wsx connect`: the URL, `-H` headers, subprotocols, and the
//! slash commands of the interactive mode with their payloads.

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use wsx::CloseCode;

/// Longest ping payload (a control frame carries at most 125 bytes).
const MAX_PING: usize = 125;
/// Longest close reason (125 bytes minus the two of the code).
const MAX_REASON: usize = 123;

/// Normalizes and checks the URL: `ws://`, `wss://` (or `http://`, `https://`), with a host
/// and no fragment. A URL without a scheme (`localhost:8080/chat`) gets `ws://`.
pub(crate) fn url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let full = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("ws://{raw}")
    };
    let u = url::Url::parse(&full).map_err(|e| format!("invalid URL {raw:?}: {e}"))?;
    match u.scheme() {
        "ws" | "wss" | "http" | "https" => {}
        other => {
            return Err(format!(
                "invalid URL {raw:?}: unsupported scheme {other:?} (use ws:// or wss://)"
            ));
        }
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("invalid URL {raw:?}: missing host"));
    }
    if u.fragment().is_some() {
        return Err(format!(
            "invalid URL {raw:?}: a WebSocket URL cannot have a #fragment"
        ));
    }
    Ok(u.into())
}

/// What a `-H` header turned into.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Header {
    /// An extra request header.
    Extra(String, String),
    /// `-H "Origin: …"`, the same as `--origin`.
    Origin(String),
}

/// Parses `-H "Name: value"`. Headers the handshake writes itself are refused, with a pointer
/// to the flag that sets them.
pub(crate) fn header(raw: &str) -> Result<Header, String> {
    let Some((name, value)) = raw.split_once(':') else {
        return Err(format!(
            "invalid header {raw:?}: expected \"Name: value\" (a colon is missing)"
        ));
    };
    let name = name.trim();
    let value = value.trim();
    if name.is_empty() {
        return Err(format!(
            "invalid header {raw:?}: expected \"Name: value\" (the name is empty)"
        ));
    }
    let parsed = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("invalid header {raw:?}: {name:?} is not a valid header name"))?;
    HeaderValue::from_str(value).map_err(|_| {
        format!("invalid header {raw:?}: the value has characters a header cannot carry")
    })?;
    let managed = |what: &str| Err(format!("-H {name}: {what}"));
    match parsed.as_str() {
        "origin" => Ok(Header::Origin(value.to_owned())),
        "sec-websocket-protocol" => managed("use --protocol (repeatable) instead"),
        "sec-websocket-extensions" => {
            managed("permessage-deflate is offered by default (--no-deflate turns it off)")
        }
        "host" => managed("the Host header comes from the URL: use --host to send another"),
        "upgrade" | "connection" | "sec-websocket-key" | "sec-websocket-version" => {
            managed("this header is set by the WebSocket handshake")
        }
        _ => Ok(Header::Extra(name.to_owned(), value.to_owned())),
    }
}

/// Checks a subprotocol name (an HTTP token: no spaces, commas or other separators).
pub(crate) fn protocol(p: &str) -> Result<(), String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if p.is_empty() || !p.chars().all(token) {
        return Err(format!(
            "invalid subprotocol {p:?}: a name without spaces, commas or separators is needed"
        ));
    }
    Ok(())
}

/// A line typed in interactive mode.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// Send this text (a plain line, or `//…` for a text that starts with `/`).
    Text(String),
    /// `/ping [data]`.
    Ping(Bytes),
    /// `/binary <hex|base64>`.
    Binary(Bytes),
    /// `/close [code] [reason]`.
    Close(CloseCode, String),
    /// `/quit`.
    Quit,
    /// `/help`.
    Help,
    /// An empty line: nothing to do.
    Nothing,
}

/// Parses a line typed in interactive mode.
pub(crate) fn command(line: &str) -> Result<Command, String> {
    if line.is_empty() {
        return Ok(Command::Nothing);
    }
    if let Some(rest) = line.strip_prefix("//") {
        return Ok(Command::Text(format!("/{rest}")));
    }
    let Some(cmd) = line.strip_prefix('/') else {
        return Ok(Command::Text(line.to_owned()));
    };
    let (word, arg) = match cmd.split_once(char::is_whitespace) {
        Some((w, a)) => (w, a.trim()),
        None => (cmd, ""),
    };
    match word {
        "ping" => {
            if arg.len() > MAX_PING {
                return Err(format!(
                    "/ping: the data is {} bytes; a ping carries at most {MAX_PING}",
                    arg.len()
                ));
            }
            Ok(Command::Ping(Bytes::copy_from_slice(arg.as_bytes())))
        }
        "binary" | "bin" => {
            if arg.is_empty() {
                return Err("usage: /binary <hex|base64>, e.g. /binary 0001ff".into());
            }
            binary(arg).map(Command::Binary)
        }
        "close" => close(arg),
        "quit" | "exit" | "q" => Ok(Command::Quit),
        "help" | "h" | "?" => Ok(Command::Help),
        "" => Err("a lone / is not a command: type /help, or //text to send \"/text\"".into()),
        other => Err(format!(
            "unknown command /{other}: type /help, or start the line with // to send text that \
             begins with /"
        )),
    }
}

/// `/close [code] [reason]`: the code must be one an endpoint may send.
fn close(arg: &str) -> Result<Command, String> {
    if arg.is_empty() {
        return Ok(Command::Close(CloseCode::NORMAL, String::new()));
    }
    let (code, reason) = match arg.split_once(char::is_whitespace) {
        Some((c, r)) => (c, r.trim()),
        None => (arg, ""),
    };
    let valid = "use 1000-1003, 1007-1014 or 3000-4999";
    let code: u16 = code
        .parse()
        .map_err(|_| format!("/close: {code:?} is not a close code ({valid})"))?;
    if !CloseCode(code).is_valid_on_wire() {
        return Err(format!("/close: {code} cannot be sent ({valid})"));
    }
    if reason.len() > MAX_REASON {
        return Err(format!(
            "/close: the reason is {} bytes; at most {MAX_REASON} fit in a close frame",
            reason.len()
        ));
    }
    Ok(Command::Close(CloseCode(code), reason.to_owned()))
}

/// Decodes a `/binary` payload: hex when it is valid hex (whitespace and a `0x` prefix
/// allowed), else base64 (standard or URL-safe, padded or not).
pub(crate) fn binary(arg: &str) -> Result<Bytes, String> {
    let compact: String = arg.chars().filter(|c| !c.is_whitespace()).collect();
    let hex_digits = compact
        .strip_prefix("0x")
        .or_else(|| compact.strip_prefix("0X"))
        .unwrap_or(&compact);
    if let Some(b) = hex(hex_digits) {
        return Ok(b.into());
    }
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        if let Ok(b) = engine.decode(&compact) {
            return Ok(b.into());
        }
    }
    Err(format!(
        "/binary: {arg:?} is neither hex (e.g. 0001ff) nor base64 (e.g. AAH/)"
    ))
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    s.as_bytes()
        .chunks_exact(2)
        .map(|p| Some((digit(p[0])? * 16 + digit(p[1])?) as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(url("ws://a/b").unwrap(), "ws://a/b");
        assert_eq!(url("localhost:8080/x").unwrap(), "ws://localhost:8080/x");
        assert_eq!(url("https://a").unwrap(), "https://a/");
        assert!(url("ftp://x").unwrap_err().contains("unsupported scheme"));
        assert!(url("ws://a/#f").is_err());
        assert!(url("ws://").is_err());
    }

    #[test]
    fn headers() {
        assert_eq!(
            header("X-Token:  abc def ").unwrap(),
            Header::Extra("X-Token".into(), "abc def".into())
        );
        assert_eq!(
            header("origin: https://a").unwrap(),
            Header::Origin("https://a".into())
        );
        assert_eq!(
            header("X-Empty:").unwrap(),
            Header::Extra("X-Empty".into(), String::new())
        );
        assert!(header("NoColon").unwrap_err().contains("colon"));
        assert!(header(": v").unwrap_err().contains("name is empty"));
        assert!(
            header("bad name: v")
                .unwrap_err()
                .contains("not a valid header name")
        );
        assert!(header("x: a\u{1}b").is_err());
        assert!(
            header("Sec-WebSocket-Protocol: x")
                .unwrap_err()
                .contains("--protocol")
        );
        assert!(header("Host: x").is_err());
    }

    #[test]
    fn protocols() {
        assert!(protocol("chat.v2").is_ok());
        assert!(protocol("").is_err());
        assert!(protocol("a,b").is_err());
        assert!(protocol("a b").is_err());
    }

    #[test]
    fn commands() {
        assert_eq!(command("").unwrap(), Command::Nothing);
        assert_eq!(command("hi").unwrap(), Command::Text("hi".into()));
        assert_eq!(command("//x").unwrap(), Command::Text("/x".into()));
        assert_eq!(command("/ping").unwrap(), Command::Ping(Bytes::new()));
        assert_eq!(
            command("/ping  a b").unwrap(),
            Command::Ping(Bytes::from_static(b"a b"))
        );
        assert!(command(&format!("/ping {}", "x".repeat(126))).is_err());
        assert_eq!(command("/quit").unwrap(), Command::Quit);
        assert_eq!(command("/help").unwrap(), Command::Help);
        assert!(
            command("/nope")
                .unwrap_err()
                .contains("unknown command /nope")
        );
        assert!(command("/").is_err());
        assert!(command("/binary").is_err());
    }

    #[test]
    fn close_commands() {
        assert_eq!(
            command("/close").unwrap(),
            Command::Close(CloseCode::NORMAL, String::new())
        );
        assert_eq!(
            command("/close 4000 going  away").unwrap(),
            Command::Close(CloseCode(4000), "going  away".into())
        );
        assert!(
            command("/close 999")
                .unwrap_err()
                .contains("cannot be sent")
        );
        assert!(command("/close 1005").is_err());
        assert!(
            command("/close abc")
                .unwrap_err()
                .contains("not a close code")
        );
        assert!(command("/close 70000").is_err());
        assert!(command(&format!("/close 1000 {}", "r".repeat(124))).is_err());
    }

    #[test]
    fn binary_payloads() {
        assert_eq!(binary("0001ff").unwrap(), Bytes::from_static(&[0, 1, 0xff]));
        assert_eq!(
            binary("00 01 FF").unwrap(),
            Bytes::from_static(&[0, 1, 0xff])
        );
        assert_eq!(binary("0x0a").unwrap(), Bytes::from_static(&[10]));
        // Not hex (odd length), valid base64.
        assert_eq!(binary("AAH/").unwrap(), Bytes::from_static(&[0, 1, 0xff]));
        assert_eq!(binary("aGk").unwrap(), Bytes::from_static(b"hi"));
        assert_eq!(binary("aGk=").unwrap(), Bytes::from_static(b"hi"));
        assert!(binary("not hex!").is_err());
    }
}
