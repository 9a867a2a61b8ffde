//! The `Sec-WebSocket-Extensions` header (RFC 6455 §9.1): extensions with their parameters,
//! as offered by a client or accepted by a server.

use crate::handshake_error::HandshakeError;

/// One extension of a `Sec-WebSocket-Extensions` header with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Parameters in order; a parameter without `=value` has `None`.
    pub params: Vec<(String, Option<String>)>,
}

/// Parses `Sec-WebSocket-Extensions` header values (RFC 6455 §9.1 grammar: tokens, `;`
/// parameters, values as tokens or quoted strings, `,` between extensions).
///
/// ```
/// use wsx_proto::deflate::parse_extensions;
/// let exts = parse_extensions(["permessage-deflate; client_max_window_bits, x-foo; a=\"1\""]).unwrap();
/// assert_eq!(exts.len(), 2);
/// assert_eq!(exts[0].params[0], ("client_max_window_bits".into(), None));
/// assert_eq!(exts[1].params[0], ("a".into(), Some("1".into())));
/// ```
pub fn parse_extensions<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Extension>, HandshakeError> {
    let mut out = Vec::new();
    for value in values {
        let mut p = Parser {
            s: value.as_bytes(),
            i: 0,
        };
        loop {
            p.ws();
            if p.eof() {
                break;
            }
            if p.peek() == Some(b',') {
                // Empty list elements are allowed by the #rule.
                p.i += 1;
                continue;
            }
            let name = p.token()?;
            let mut params = Vec::new();
            loop {
                p.ws();
                match p.peek() {
                    Some(b';') => {
                        p.i += 1;
                        p.ws();
                        let key = p.token()?;
                        p.ws();
                        let val = if p.peek() == Some(b'=') {
                            p.i += 1;
                            p.ws();
                            Some(if p.peek() == Some(b'"') {
                                p.quoted()?
                            } else {
                                p.token()?
                            })
                        } else {
                            None
                        };
                        params.push((key, val));
                    }
                    Some(b',') => {
                        p.i += 1;
                        break;
                    }
                    None => break,
                    Some(_) => return Err(HandshakeError::InvalidExtensionHeader),
                }
            }
            out.push(Extension { name, params });
        }
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn eof(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Result<String, HandshakeError> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if is_tchar(c) {
                self.i += 1;
            } else {
                break;
            }
        }
        if start == self.i {
            return Err(HandshakeError::InvalidExtensionHeader);
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn quoted(&mut self) -> Result<String, HandshakeError> {
        self.i += 1; // opening quote
        let mut v = Vec::new();
        loop {
            match self.peek() {
                None => return Err(HandshakeError::InvalidExtensionHeader),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or(HandshakeError::InvalidExtensionHeader)?;
                    v.push(c);
                    self.i += 1;
                }
                Some(c) => {
                    v.push(c);
                    self.i += 1;
                }
            }
        }
        // RFC 6455 §9.1: a quoted value must still be a token once unquoted.
        if v.is_empty() || !v.iter().all(|&c| is_tchar(c)) {
            return Err(HandshakeError::InvalidExtensionHeader);
        }
        Ok(String::from_utf8_lossy(&v).into_owned())
    }
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_grammar_errors() {
        for bad in [
            "permessage-deflate;",
            "a b",
            "x; a=\"\"",
            "x; a=\"b c\"",
            "x; =1",
            "x; a=\"1",
        ] {
            assert!(parse_extensions([bad]).is_err(), "{bad}");
        }
        assert_eq!(parse_extensions(["", " , "]).unwrap(), vec![]);
    }
}
