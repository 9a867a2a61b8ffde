//! The opening handshake (RFC 6455 §4): request parsing and validation with the HTTP status of
//! every failure, the head-size limit, the full client → server → client round trip, and
//! subprotocol and permessage-deflate negotiation.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use http::{HeaderValue, Request, StatusCode, header};
use wsx_proto::deflate::{DeflateConfig, parse_extensions};
use wsx_proto::handshake::{
    ClientRequest, DEFAULT_MAX_HEADER_BYTES, HandshakeError, MAX_HEADERS, UpgradeRequest,
    accept_key, accept_response, parse_request, parse_response, validate_request, write_response,
};
use wsx_proto::{Config, Connection, Role};

/// The request of RFC 6455 §1.2, with a few extras.
const GOOD: &str = "GET /chat?room=1 HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\
\r\n";

fn parse(head: &str) -> Request<()> {
    let (req, n) = parse_request(head.as_bytes(), DEFAULT_MAX_HEADER_BYTES)
        .unwrap()
        .expect("a complete head");
    assert_eq!(n, head.len());
    req
}

fn validate(head: &str) -> Result<UpgradeRequest, HandshakeError> {
    validate_request(&parse(head))
}

/// `GOOD` with the header line starting with `name:` replaced by `line` (or removed when
/// `line` is empty).
fn with_header(name: &str, line: &str) -> String {
    let mut out = String::new();
    let mut found = false;
    for l in GOOD.split_inclusive("\r\n") {
        if l.to_ascii_lowercase()
            .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        {
            found = true;
            if !line.is_empty() {
                out.push_str(line);
                out.push_str("\r\n");
            }
        } else {
            out.push_str(l);
        }
    }
    assert!(found, "{name} is in GOOD");
    out
}

/// `GOOD` with extra header lines added before the blank line.
fn with_extra(lines: &str) -> String {
    GOOD.replacen("\r\n\r\n", &format!("\r\n{lines}\r\n\r\n"), 1)
}

#[test]
fn the_rfc_example_request_is_valid() {
    let u = validate(GOOD).unwrap();
    assert_eq!(u.key, "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(u.protocols, ["chat", "superchat"]);
    assert!(u.extensions.is_empty());
}

#[test]
fn the_accept_key_matches_the_rfc_example() {
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn upgrade_and_connection_are_case_insensitive_token_lists() {
    for upgrade in [
        "Upgrade: websocket",
        "Upgrade: WebSocket",
        "UPGRADE: WEBSOCKET",
        "upgrade:websocket",
        "Upgrade: h2c, websocket",
        "Upgrade: websocket, foo/2",
    ] {
        assert!(
            validate(&with_header("upgrade", upgrade)).is_ok(),
            "{upgrade}"
        );
    }
    for connection in [
        "Connection: Upgrade",
        "Connection: upgrade",
        "Connection: UPGRADE",
        "Connection: keep-alive, Upgrade",
        "Connection: Upgrade, keep-alive",
        "Connection: keep-alive,upgrade",
        "connection:   keep-alive ,  Upgrade  ",
    ] {
        assert!(
            validate(&with_header("connection", connection)).is_ok(),
            "{connection}"
        );
    }
    // The token may also come in a second header line.
    let two = with_header(
        "connection",
        "Connection: keep-alive\r\nConnection: Upgrade",
    );
    assert!(validate(&two).is_ok());
}

#[test]
fn tokens_must_match_whole_not_as_substrings() {
    assert_eq!(
        validate(&with_header("upgrade", "Upgrade: websocketx")),
        Err(HandshakeError::MissingUpgrade)
    );
    assert_eq!(
        validate(&with_header("connection", "Connection: upgraded")),
        Err(HandshakeError::MissingConnectionUpgrade)
    );
    assert_eq!(
        validate(&with_header("connection", "Connection: keep-alive upgrade")),
        Err(HandshakeError::MissingConnectionUpgrade)
    );
}

#[test]
fn each_bad_request_gets_its_error_and_http_status() {
    let cases: Vec<(String, HandshakeError, u16)> = vec![
        (
            GOOD.replacen("GET", "POST", 1),
            HandshakeError::MethodNotAllowed,
            405,
        ),
        (
            GOOD.replacen("GET", "HEAD", 1),
            HandshakeError::MethodNotAllowed,
            405,
        ),
        (
            GOOD.replacen("HTTP/1.1", "HTTP/1.0", 1),
            HandshakeError::BadHttpVersion,
            505,
        ),
        (with_header("host", ""), HandshakeError::MissingHost, 400),
        (
            with_header("upgrade", ""),
            HandshakeError::MissingUpgrade,
            400,
        ),
        (
            with_header("upgrade", "Upgrade: h2c"),
            HandshakeError::MissingUpgrade,
            400,
        ),
        (
            with_header("connection", ""),
            HandshakeError::MissingConnectionUpgrade,
            400,
        ),
        (
            with_header("connection", "Connection: keep-alive"),
            HandshakeError::MissingConnectionUpgrade,
            400,
        ),
        (
            with_header("sec-websocket-key", ""),
            HandshakeError::InvalidKey,
            400,
        ),
        (
            // 10 bytes, not 16.
            with_header("sec-websocket-key", "Sec-WebSocket-Key: dGhlIHNhbXBsZQ=="),
            HandshakeError::InvalidKey,
            400,
        ),
        (
            with_header(
                "sec-websocket-key",
                "Sec-WebSocket-Key: not base64 at all!!",
            ),
            HandshakeError::InvalidKey,
            400,
        ),
        (
            with_extra("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="),
            HandshakeError::InvalidKey,
            400,
        ),
        (
            with_header("sec-websocket-version", "Sec-WebSocket-Version: 8"),
            HandshakeError::UnsupportedVersion,
            426,
        ),
        (
            with_header("sec-websocket-version", "Sec-WebSocket-Version: 14"),
            HandshakeError::UnsupportedVersion,
            426,
        ),
        (
            with_header("sec-websocket-version", ""),
            HandshakeError::UnsupportedVersion,
            426,
        ),
        (
            with_extra("Sec-WebSocket-Version: 8"),
            HandshakeError::UnsupportedVersion,
            426,
        ),
        (
            with_header(
                "sec-websocket-protocol",
                "Sec-WebSocket-Protocol: chat, chat",
            ),
            HandshakeError::InvalidProtocolHeader,
            400,
        ),
        (
            with_header("sec-websocket-protocol", "Sec-WebSocket-Protocol: chat,,x"),
            HandshakeError::InvalidProtocolHeader,
            400,
        ),
        (
            with_header("sec-websocket-protocol", "Sec-WebSocket-Protocol: a/b"),
            HandshakeError::InvalidProtocolHeader,
            400,
        ),
        (
            with_extra("Sec-WebSocket-Extensions: permessage-deflate;;"),
            HandshakeError::InvalidExtensionHeader,
            400,
        ),
        (
            with_extra("Sec-WebSocket-Extensions: a b"),
            HandshakeError::InvalidExtensionHeader,
            400,
        ),
    ];
    for (head, err, status) in cases {
        let e = validate(&head).unwrap_err();
        assert_eq!(e, err, "{head}");
        assert_eq!(e.status().as_u16(), status, "{err:?}");
        assert_eq!(e.response().status().as_u16(), status);
    }
}

#[test]
fn error_responses_carry_the_headers_the_rfc_asks_for() {
    let r = HandshakeError::UnsupportedVersion.response();
    assert_eq!(r.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(r.headers()[header::SEC_WEBSOCKET_VERSION], "13");
    let r = HandshakeError::MethodNotAllowed.response();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()[header::ALLOW], "GET");
    let r = HandshakeError::HeadersTooLarge(100).response();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // Written out, an error response is a complete HTTP response with a body.
    let r = HandshakeError::InvalidKey.response();
    let mut out = Vec::new();
    write_response(&r, r.body().as_bytes(), &mut out);
    let (parsed, n) = parse_response(&out, 4096).unwrap().unwrap();
    assert_eq!(parsed.status(), StatusCode::BAD_REQUEST);
    let len: usize = parsed.headers()[header::CONTENT_LENGTH]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(out.len() - n, len);
    assert_eq!(&out[n..], r.body().as_bytes());
}

#[test]
fn a_malformed_head_is_a_400() {
    for bad in [
        "GET / HTTP/1.1\r\nHost example.com\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
        "\x01\x02\x03 / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
    ] {
        let e = parse_request(bad.as_bytes(), DEFAULT_MAX_HEADER_BYTES).unwrap_err();
        assert!(matches!(e, HandshakeError::Malformed(_)), "{bad:?}: {e:?}");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
}

#[test]
fn an_incomplete_head_needs_more_bytes() {
    for i in 0..GOOD.len() {
        assert!(
            parse_request(&GOOD.as_bytes()[..i], DEFAULT_MAX_HEADER_BYTES)
                .unwrap()
                .is_none(),
            "prefix of {i} bytes"
        );
    }
}

#[test]
fn bytes_after_the_head_are_not_consumed() {
    // A client may send its first frame right behind the request.
    let mut bytes = GOOD.as_bytes().to_vec();
    let frame = Frame::text("early").bytes_for(Role::Server);
    bytes.extend_from_slice(&frame);
    let (req, n) = parse_request(&bytes, DEFAULT_MAX_HEADER_BYTES)
        .unwrap()
        .unwrap();
    assert_eq!(n, GOOD.len());
    validate_request(&req).unwrap();
    let mut server = Connection::new(Role::Server, Config::default(), None);
    assert_eq!(receive_one(&mut server, &bytes[n..]), text("early"));
}

#[test]
fn an_oversized_head_is_a_431() {
    let filler = format!("X-Filler: {}", "a".repeat(200));
    let big = with_extra(&filler);
    // Complete but over the limit.
    let e = parse_request(big.as_bytes(), 100).unwrap_err();
    assert_eq!(e, HandshakeError::HeadersTooLarge(100));
    assert_eq!(e.status().as_u16(), 431);
    // Still incomplete, but already over the limit: no need to wait for the rest.
    let partial = &big.as_bytes()[..big.len() - 4];
    let e = parse_request(partial, 100).unwrap_err();
    assert_eq!(e, HandshakeError::HeadersTooLarge(100));
    // An endless header line never completes; it is refused once past the limit.
    let endless = format!(
        "GET / HTTP/1.1\r\nX: {}",
        "b".repeat(DEFAULT_MAX_HEADER_BYTES)
    );
    assert!(matches!(
        parse_request(endless.as_bytes(), DEFAULT_MAX_HEADER_BYTES),
        Err(HandshakeError::HeadersTooLarge(_))
    ));
    // The same for responses.
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nX: {}\r\n\r\n",
        "c".repeat(300)
    );
    assert!(matches!(
        parse_response(resp.as_bytes(), 100),
        Err(HandshakeError::HeadersTooLarge(100))
    ));
}

#[test]
fn a_head_of_exactly_the_limit_is_accepted() {
    let limit = GOOD.len();
    assert!(parse_request(GOOD.as_bytes(), limit).unwrap().is_some());
    assert_eq!(
        parse_request(GOOD.as_bytes(), limit - 1).unwrap_err(),
        HandshakeError::HeadersTooLarge(limit - 1)
    );
    // What follows the head (early frames) does not count towards the limit.
    let mut with_frames = GOOD.as_bytes().to_vec();
    with_frames.extend_from_slice(&Frame::binary(vec![0; 10_000]).bytes_for(Role::Server));
    let (_, n) = parse_request(&with_frames, limit).unwrap().unwrap();
    assert_eq!(n, limit);
    // The default limit is what Config uses.
    assert_eq!(Config::default().max_header_bytes, DEFAULT_MAX_HEADER_BYTES);
}

#[test]
fn too_many_header_lines_is_a_431() {
    let lines: Vec<String> = (0..MAX_HEADERS).map(|i| format!("X-{i}: v")).collect();
    let head = with_extra(&lines.join("\r\n"));
    let e = parse_request(head.as_bytes(), 1 << 20).unwrap_err();
    assert!(matches!(e, HandshakeError::HeadersTooLarge(_)), "{e:?}");
    assert_eq!(e.status().as_u16(), 431);
}

#[test]
fn the_full_handshake_round_trip() {
    let mut client = ClientRequest::new("server.example.com:8080", "/chat?x=1");
    client.protocols = vec!["v2.chat".into(), "v1.chat".into()];
    client.deflate = Some(DeflateConfig::default());
    client.origin = Some("https://example.com".into());
    client
        .headers
        .insert("x-custom", HeaderValue::from_static("yes"));
    let request = client.encode();

    // Server side.
    let (req, n) = parse_request(&request, DEFAULT_MAX_HEADER_BYTES)
        .unwrap()
        .unwrap();
    assert_eq!(n, request.len());
    assert_eq!(req.uri().path(), "/chat");
    assert_eq!(req.uri().query(), Some("x=1"));
    assert_eq!(req.headers()[header::HOST], "server.example.com:8080");
    assert_eq!(req.headers()[header::ORIGIN], "https://example.com");
    assert_eq!(req.headers()["x-custom"], "yes");
    let up = validate_request(&req).unwrap();
    assert_eq!(up.key, client.key);
    assert_eq!(up.protocols, ["v2.chat", "v1.chat"]);
    // The server supports only v1.chat.
    let chosen = up.protocols.iter().find(|p| *p == "v1.chat").cloned();
    let (server_params, ext_header) = DeflateConfig::default().accept(&up.extensions).unwrap();
    let resp = accept_response(&up.key, chosen.as_deref(), Some(&ext_header));
    let mut wire = Vec::new();
    write_response(&resp, b"", &mut wire);

    // Client side.
    let (parsed, m) = parse_response(&wire, DEFAULT_MAX_HEADER_BYTES)
        .unwrap()
        .unwrap();
    assert_eq!(m, wire.len());
    assert_eq!(parsed.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(
        parsed.headers()[header::SEC_WEBSOCKET_ACCEPT],
        accept_key(client.key.as_bytes()).as_str()
    );
    assert!(parsed.headers().get(header::CONTENT_LENGTH).is_none());
    let negotiated = client.verify(&parsed).unwrap();
    assert_eq!(negotiated.protocol.as_deref(), Some("v1.chat"));
    let client_params = negotiated.deflate.unwrap();
    assert_eq!(client_params, server_params);

    // The negotiated connections talk, compressed.
    let mut c = Connection::new(Role::Client, Config::default(), Some(client_params));
    let mut s = Connection::new(Role::Server, Config::default(), Some(server_params));
    let msg = text(&"hello over permessage-deflate ".repeat(10));
    c.send(msg.clone()).unwrap();
    let bytes = c.output_mut().take_all();
    assert!(parse_frames(&bytes)[0].rsv1);
    assert_eq!(receive(&mut s, &bytes), vec![msg.clone()]);
    s.send(msg.clone()).unwrap();
    assert_eq!(transfer(&mut s, &mut c), vec![msg]);
}

#[test]
fn a_plain_round_trip_negotiates_nothing() {
    let client = ClientRequest::new("h", "");
    let request = client.encode();
    assert!(request.starts_with(b"GET / HTTP/1.1\r\n"));
    let (req, _) = parse_request(&request, DEFAULT_MAX_HEADER_BYTES)
        .unwrap()
        .unwrap();
    let up = validate_request(&req).unwrap();
    assert!(up.protocols.is_empty() && up.extensions.is_empty());
    let mut wire = Vec::new();
    write_response(&accept_response(&up.key, None, None), b"", &mut wire);
    let (resp, _) = parse_response(&wire, 1024).unwrap().unwrap();
    let n = client.verify(&resp).unwrap();
    assert_eq!(n.protocol, None);
    assert_eq!(n.deflate, None);
}

#[test]
fn fresh_client_keys_are_random_16_byte_values() {
    let a = ClientRequest::new("h", "/");
    let b = ClientRequest::new("h", "/");
    assert_ne!(a.key, b.key);
    for k in [&a.key, &b.key] {
        assert_eq!(k.len(), 24);
        let head = with_header("sec-websocket-key", &format!("Sec-WebSocket-Key: {k}"));
        assert_eq!(validate(&head).unwrap().key, *k);
    }
}

fn verified(client: &ClientRequest, resp: &http::Response<()>) -> Result<(), HandshakeError> {
    let mut wire = Vec::new();
    write_response(resp, b"", &mut wire);
    let (parsed, _) = parse_response(&wire, 4096).unwrap().unwrap();
    client.verify(&parsed).map(|_| ())
}

#[test]
fn the_client_rejects_a_bad_response() {
    let mut client = ClientRequest::new("h", "/");
    client.protocols = vec!["chat".into()];
    client.deflate = Some(DeflateConfig::default());
    let good = accept_response(&client.key, Some("chat"), Some("permessage-deflate"));
    assert_eq!(verified(&client, &good), Ok(()));

    // Another status, with its Location for redirects.
    let mut redirect = http::Response::new(());
    *redirect.status_mut() = StatusCode::FOUND;
    redirect
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/elsewhere"));
    assert_eq!(
        verified(&client, &redirect),
        Err(HandshakeError::UnexpectedStatus {
            status: 302,
            location: Some("/elsewhere".into())
        })
    );
    // Missing or wrong Upgrade / Connection / accept.
    let mut r = good.clone();
    r.headers_mut().remove(header::UPGRADE);
    assert_eq!(verified(&client, &r), Err(HandshakeError::MissingUpgrade));
    let mut r = good.clone();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    assert_eq!(
        verified(&client, &r),
        Err(HandshakeError::MissingConnectionUpgrade)
    );
    let mut r = good.clone();
    r.headers_mut().remove(header::SEC_WEBSOCKET_ACCEPT);
    assert_eq!(verified(&client, &r), Err(HandshakeError::InvalidAccept));
    let other_key = accept_response("AAAAAAAAAAAAAAAAAAAAAA==", Some("chat"), None);
    assert_eq!(
        verified(&client, &other_key),
        Err(HandshakeError::InvalidAccept)
    );
    // A subprotocol that was not offered.
    let r = accept_response(&client.key, Some("superchat"), None);
    assert_eq!(
        verified(&client, &r),
        Err(HandshakeError::UnexpectedProtocol("superchat".into()))
    );
    // An extension that was not offered.
    let r = accept_response(&client.key, None, Some("x-webkit-deflate-frame"));
    assert!(matches!(
        verified(&client, &r),
        Err(HandshakeError::UnexpectedExtension(_))
    ));
    // permessage-deflate accepted twice.
    let r = accept_response(
        &client.key,
        None,
        Some("permessage-deflate, permessage-deflate"),
    );
    assert!(matches!(
        verified(&client, &r),
        Err(HandshakeError::UnexpectedExtension(_))
    ));
    // A response parameter the offer did not allow.
    let r = accept_response(
        &client.key,
        None,
        Some("permessage-deflate; client_max_window_bits"),
    );
    assert!(matches!(
        verified(&client, &r),
        Err(HandshakeError::InvalidExtensionResponse(_))
    ));
}

#[test]
fn the_client_rejects_a_protocol_or_extension_when_it_offered_none() {
    let client = ClientRequest::new("h", "/");
    let r = accept_response(&client.key, Some("chat"), None);
    assert_eq!(
        verified(&client, &r),
        Err(HandshakeError::UnexpectedProtocol("chat".into()))
    );
    let r = accept_response(&client.key, None, Some("permessage-deflate"));
    assert!(matches!(
        verified(&client, &r),
        Err(HandshakeError::UnexpectedExtension(_))
    ));
}

#[test]
fn the_server_may_decline_every_offer() {
    let mut client = ClientRequest::new("h", "/");
    client.protocols = vec!["chat".into()];
    client.deflate = Some(DeflateConfig::default());
    let r = accept_response(&client.key, None, None);
    let mut wire = Vec::new();
    write_response(&r, b"", &mut wire);
    let (parsed, _) = parse_response(&wire, 4096).unwrap().unwrap();
    let n = client.verify(&parsed).unwrap();
    assert_eq!((n.protocol, n.deflate), (None, None));
}

#[test]
fn subprotocols_are_listed_in_the_clients_order_across_header_lines() {
    let head = with_header(
        "sec-websocket-protocol",
        "Sec-WebSocket-Protocol: b, a\r\nSec-WebSocket-Protocol: c",
    );
    assert_eq!(validate(&head).unwrap().protocols, ["b", "a", "c"]);
    // A protocol repeated across lines is still a duplicate.
    let head = with_header(
        "sec-websocket-protocol",
        "Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: a",
    );
    assert_eq!(validate(&head), Err(HandshakeError::InvalidProtocolHeader));
}

#[test]
fn extension_offers_are_parsed_and_the_first_acceptable_deflate_offer_is_taken() {
    let head = with_extra(
        "Sec-WebSocket-Extensions: x-unknown; a=1, permessage-deflate; server_max_window_bits=7\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; server_no_context_takeover",
    );
    let up = validate(&head).unwrap();
    let names: Vec<_> = up.extensions.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["x-unknown", "permessage-deflate", "permessage-deflate"]
    );
    let (p, header) = DeflateConfig::default().accept(&up.extensions).unwrap();
    assert!(p.server_no_context_takeover);
    assert_eq!(header, "permessage-deflate; server_no_context_takeover");
    // A server without deflate support simply sees no acceptable offer from other names.
    let only_unknown = parse_extensions(["x-unknown"]).unwrap();
    assert!(DeflateConfig::default().accept(&only_unknown).is_none());
}

#[test]
fn the_client_offer_round_trips_through_the_server() {
    for cfg in [
        DeflateConfig::default(),
        DeflateConfig::default().client_no_context_takeover(true),
        DeflateConfig::default()
            .server_no_context_takeover(true)
            .server_max_window_bits(9)
            .client_max_window_bits(10),
    ] {
        let mut client = ClientRequest::new("h", "/");
        client.deflate = Some(cfg.clone());
        let (req, _) = parse_request(&client.encode(), DEFAULT_MAX_HEADER_BYTES)
            .unwrap()
            .unwrap();
        let up = validate_request(&req).unwrap();
        assert_eq!(
            up.extensions,
            parse_extensions([cfg.offer().as_str()]).unwrap()
        );
        let (sp, h) = DeflateConfig::default().accept(&up.extensions).unwrap();
        let resp = accept_response(&up.key, None, Some(&h));
        let mut wire = Vec::new();
        write_response(&resp, b"", &mut wire);
        let (parsed, _) = parse_response(&wire, 4096).unwrap().unwrap();
        let cp = client.verify(&parsed).unwrap().deflate.unwrap();
        assert_eq!(cp, sp, "{cfg:?}");
        assert_eq!(
            sp.server_no_context_takeover,
            cfg.server_no_context_takeover
        );
        assert_eq!(
            sp.client_no_context_takeover,
            cfg.client_no_context_takeover
        );
        assert!(sp.server_max_window_bits <= cfg.server_max_window_bits);
        assert!(cp.client_max_window_bits <= cfg.client_max_window_bits);
    }
}

#[test]
fn a_request_target_with_an_authority_stands_in_for_host() {
    let head = with_header("host", "").replacen(
        "GET /chat?room=1",
        "GET http://server.example.com/chat?room=1",
        1,
    );
    assert!(validate(&head).is_ok());
}
