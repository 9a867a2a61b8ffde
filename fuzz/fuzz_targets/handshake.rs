//! The opening handshake: `parse_request` + `validate_request` and `parse_response` +
//! `ClientRequest::verify` on arbitrary bytes, and a full client/server negotiation built from
//! the same bytes read as structured input.
//!
//! Invariants:
//! - Nothing panics, and every error yields a status and an error response.
//! - The head limit holds: a complete head of `n` bytes parses with a limit of `n` and is
//!   rejected with `HeadersTooLarge` with a limit of `n - 1`; with any limit, "need more
//!   bytes" is only answered while the buffer is within the limit.
//! - A request that validates gets a `101` response (`accept_response`, `write_response`) that
//!   parses back completely and that a client offering the same key and protocols verifies.
//! - Any request a `ClientRequest` encodes validates on the server with the same key and
//!   protocols; the server's answer verifies on the client, which agrees with the server on
//!   the subprotocol and on all four permessage-deflate parameters.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use wsx_fuzz::{ConfigSpec, is_token, negotiated};
use wsx_proto::DeflateConfig;
use wsx_proto::handshake::{
    ClientRequest, DEFAULT_MAX_HEADER_BYTES, HandshakeError, accept_key, accept_response,
    parse_request, parse_response, validate_request, write_response,
};

/// The key of RFC 6455 §1.3 (and of the seed corpus).
const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn check_error(e: &HandshakeError) {
    let _ = e.status();
    let r = e.response();
    assert!(r.status().is_client_error() || r.status().is_server_error());
    let mut out = Vec::new();
    write_response(&r, r.body().as_bytes(), &mut out);
    assert!(
        matches!(parse_response(&out, out.len()), Ok(Some((_, n))) if n < out.len() || r.body().is_empty())
    );
}

/// The head-limit contract of `parse_request`/`parse_response`.
fn check_limits<T>(
    data: &[u8],
    limit: usize,
    parse: impl Fn(&[u8], usize) -> Result<Option<(T, usize)>, HandshakeError>,
) -> Result<Option<(T, usize)>, HandshakeError> {
    let r = parse(data, DEFAULT_MAX_HEADER_BYTES);
    match &r {
        Ok(Some((_, n))) => {
            let n = *n;
            assert!(n <= data.len() && n <= DEFAULT_MAX_HEADER_BYTES);
            assert!(matches!(parse(data, n), Ok(Some((_, m))) if m == n));
            assert!(matches!(parse(&data[..n], n), Ok(Some((_, m))) if m == n));
            assert!(matches!(
                parse(data, n - 1),
                Err(HandshakeError::HeadersTooLarge(_))
            ));
        }
        Ok(None) => assert!(data.len() <= DEFAULT_MAX_HEADER_BYTES),
        Err(e) => check_error(e),
    }
    match parse(data, limit) {
        Ok(Some((_, n))) => assert!(n <= limit),
        Ok(None) => assert!(
            data.len() <= limit,
            "a head over the limit must be rejected"
        ),
        Err(e) => check_error(&e),
    }
    r
}

fn raw_request(data: &[u8], limit: usize) {
    let Ok(Some((req, _))) = check_limits(data, limit, parse_request) else {
        return;
    };
    let u = match validate_request(&req) {
        Ok(u) => u,
        Err(e) => return check_error(&e),
    };
    // The server answers; a client that offered this key and these protocols accepts it.
    let protocol = u.protocols.first().map(String::as_str);
    let resp = accept_response(&u.key, protocol, None);
    let mut out = Vec::new();
    write_response(&resp, b"", &mut out);
    let (parsed, n) = parse_response(&out, out.len())
        .expect("our own response parses")
        .expect("our own response is complete");
    assert_eq!(n, out.len());
    let mut client = ClientRequest::new("h", "/");
    client.key = u.key.clone();
    client.protocols = u.protocols.clone();
    let neg = client
        .verify(&parsed)
        .expect("the client accepts the server's answer");
    assert_eq!(neg.protocol.as_deref(), protocol);
    assert_eq!(neg.deflate, None);
}

fn raw_response(data: &[u8], limit: usize) {
    let Ok(Some((resp, _))) = check_limits(data, limit, parse_response) else {
        return;
    };
    let mut client = ClientRequest::new("server.example.com", "/chat");
    client.key = SAMPLE_KEY.into();
    client.protocols = vec!["chat".into(), "superchat".into()];
    for deflate in [None, Some(DeflateConfig::default())] {
        client.deflate = deflate;
        match client.verify(&resp) {
            Ok(neg) => {
                if let Some(p) = &neg.protocol {
                    assert!(client.protocols.contains(p));
                }
                if let Some(d) = neg.deflate {
                    assert!(client.deflate.is_some());
                    assert!((8..=15).contains(&d.server_max_window_bits));
                    assert!((8..=15).contains(&d.client_max_window_bits));
                }
            }
            Err(e) => check_error(&e),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Negotiation {
    key: [u8; 16],
    host: Vec<u8>,
    port: Option<u16>,
    path: Vec<u8>,
    protocols: Vec<Vec<u8>>,
    origin: bool,
    client_deflate: Option<ConfigSpec>,
    server_deflate: Option<ConfigSpec>,
    pick_protocol: u8,
    request_limit: u16,
}

fn base64_16(b: &[u8; 16]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(24);
    for c in b.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | (x as u32) << (16 - 8 * i));
        for i in 0..=c.len() {
            s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    s.push_str("==");
    s
}

fn from_alphabet(raw: &[u8], alphabet: &[u8]) -> String {
    raw.iter()
        .map(|&b| alphabet[b as usize % alphabet.len()] as char)
        .collect()
}

fn negotiation(n: &Negotiation) {
    let mut client = ClientRequest::new(
        from_alphabet(&n.host, b"abcdefghijklmnopqrstuvwxyz0123456789.-"),
        from_alphabet(&n.path, b"abcxyzABC0123456789/-._~?=&"),
    );
    if client.host.is_empty() {
        client.host.push('h');
    }
    if let Some(port) = n.port {
        client.host.push_str(&format!(":{port}"));
    }
    if !client.path.is_empty() {
        client.path.insert(0, '/');
    }
    client.key = base64_16(&n.key);
    assert_eq!(client.key.len(), 24);
    client.protocols = n
        .protocols
        .iter()
        .take(8)
        .map(|p| from_alphabet(p, b"abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~"))
        .filter(|p| !p.is_empty())
        .collect();
    let unique = client
        .protocols
        .iter()
        .enumerate()
        .all(|(i, p)| !client.protocols[..i].contains(p));
    if n.origin {
        client.origin = Some(format!("http://{}", client.host));
    }
    client.deflate = n.client_deflate.map(|c| c.get());
    let head = client.encode();

    // The head limit.
    let limit = n.request_limit as usize;
    if head.len() > limit {
        assert!(matches!(
            parse_request(&head, limit),
            Err(HandshakeError::HeadersTooLarge(_))
        ));
    }
    let (req, len) = parse_request(&head, DEFAULT_MAX_HEADER_BYTES.max(head.len()))
        .expect("an encoded request parses")
        .expect("an encoded request is complete");
    assert_eq!(len, head.len());
    for k in 0..head.len() {
        assert!(matches!(parse_request(&head[..k], head.len()), Ok(None)));
    }
    let u = match validate_request(&req) {
        Ok(u) => u,
        Err(HandshakeError::InvalidProtocolHeader) if !unique => return,
        Err(e) => panic!(
            "the server rejects {:?}: {e:?}",
            String::from_utf8_lossy(&head)
        ),
    };
    assert!(unique, "repeated subprotocols are rejected");
    assert_eq!(u.key, client.key);
    assert_eq!(u.protocols, client.protocols);
    assert!(u.protocols.iter().all(|p| is_token(p)));

    // The server answers.
    let protocol = (!u.protocols.is_empty())
        .then(|| u.protocols[n.pick_protocol as usize % u.protocols.len()].as_str());
    let server = n.server_deflate.map(|c| c.get());
    let accepted = server.as_ref().and_then(|s| s.accept(&u.extensions));
    if client.deflate.is_some() && server.is_some() {
        assert!(accepted.is_some(), "a server accepts a wsx client's offer");
    }
    if client.deflate.is_none() {
        assert!(accepted.is_none());
    }
    let resp = accept_response(&u.key, protocol, accepted.as_ref().map(|(_, h)| h.as_str()));
    assert_eq!(
        resp.headers()["sec-websocket-accept"],
        accept_key(client.key.as_bytes()).as_str()
    );
    let mut out = Vec::new();
    write_response(&resp, b"", &mut out);
    let (parsed, n) = parse_response(&out, out.len())
        .expect("our own response parses")
        .expect("our own response is complete");
    assert_eq!(n, out.len());

    // The client verifies it and agrees with the server.
    let neg = client.verify(&parsed).unwrap_or_else(|e| {
        panic!(
            "the client rejects {:?}: {e:?}",
            String::from_utf8_lossy(&out)
        )
    });
    assert_eq!(neg.protocol.as_deref(), protocol);
    match (&accepted, &neg.deflate) {
        (None, None) => {}
        (Some((server_params, _)), Some(client_params)) => {
            assert_eq!(negotiated(server_params), negotiated(client_params));
        }
        (a, b) => panic!("server negotiated {a:?}, client {b:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    // The same bytes as a raw head (limits from the first byte) and as structured input.
    let limit = match data.first() {
        Some(&b) => (b as usize) << 4,
        None => 0,
    };
    raw_request(data, limit);
    raw_response(data, limit);
    if let Ok(n) = Negotiation::arbitrary_take_rest(Unstructured::new(data)) {
        negotiation(&n);
    }
});
