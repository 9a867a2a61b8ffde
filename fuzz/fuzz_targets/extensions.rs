//! `Sec-WebSocket-Extensions` parsing and permessage-deflate negotiation on arbitrary header
//! values.
//!
//! Invariants:
//! - `parse_extensions`, `DeflateConfig::accept` and `DeflateConfig::confirm` never panic.
//! - What parses is made of tokens, and serializing it again parses to the same extensions.
//! - Whatever a server accepts has window bits within 8..=15, no more than it allows or the
//!   client asked for; its response header parses back to exactly one `permessage-deflate`,
//!   which a client `DeflateConfig` matching the accepted offer confirms with the same four
//!   parameters.
//! - Whatever a client confirms has window bits within 8..=15 and within its offer.
//! - A client's own offer always parses and is accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsx_fuzz::{is_token, negotiated};
use wsx_proto::deflate::{
    DeflateConfig, DeflateParams, EXTENSION_NAME, Extension, parse_extensions,
};

/// Server configurations every input is negotiated against.
fn server_configs() -> [DeflateConfig; 6] {
    [
        DeflateConfig::default(),
        DeflateConfig::default()
            .server_no_context_takeover(true)
            .client_no_context_takeover(true),
        DeflateConfig::default().server_max_window_bits(9),
        DeflateConfig::default().client_max_window_bits(10),
        DeflateConfig::default()
            .server_max_window_bits(12)
            .client_max_window_bits(8)
            .server_no_context_takeover(true),
        DeflateConfig::default()
            .server_max_window_bits(8)
            .client_max_window_bits(15),
    ]
}

fn serialize(exts: &[Extension]) -> String {
    let mut s = String::new();
    for (i, e) in exts.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&e.name);
        for (k, v) in &e.params {
            s.push_str("; ");
            s.push_str(k);
            if let Some(v) = v {
                s.push('=');
                s.push_str(v);
            }
        }
    }
    s
}

fn in_range(p: &DeflateParams) -> bool {
    (8..=15).contains(&p.server_max_window_bits) && (8..=15).contains(&p.client_max_window_bits)
}

fn param<'a>(e: &'a Extension, name: &str) -> Option<&'a Option<String>> {
    e.params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn bits(v: &Option<String>) -> u8 {
    v.as_deref()
        .and_then(|v| v.parse().ok())
        .expect("an accepted offer has valid window bits")
}

/// The client configuration whose offer is `offer` (as far as a `DeflateConfig` can say it).
fn client_for(offer: &Extension) -> DeflateConfig {
    let mut c = DeflateConfig::default()
        .server_no_context_takeover(param(offer, "server_no_context_takeover").is_some())
        .client_no_context_takeover(param(offer, "client_no_context_takeover").is_some());
    if let Some(v) = param(offer, "server_max_window_bits") {
        c = c.server_max_window_bits(bits(v));
    }
    if let Some(Some(v)) = param(offer, "client_max_window_bits") {
        c = c.client_max_window_bits(bits(&Some(v.clone())));
    }
    c
}

fn check_accept(server: &DeflateConfig, exts: &[Extension]) {
    let Some((params, header)) = server.accept(exts) else {
        // No offer is acceptable on its own either.
        for e in exts {
            assert!(server.accept(std::slice::from_ref(e)).is_none());
        }
        return;
    };
    assert!(in_range(&params), "{params:?}");
    assert!(params.server_max_window_bits <= server.server_max_window_bits);
    assert!(params.client_max_window_bits <= server.client_max_window_bits.max(15));
    // The first acceptable offer is the one taken.
    let offer = exts
        .iter()
        .find(|e| server.accept(std::slice::from_ref(e)).is_some())
        .expect("some offer was accepted");
    assert!(offer.name.eq_ignore_ascii_case(EXTENSION_NAME));
    assert_eq!(
        server.accept(std::slice::from_ref(offer)),
        Some((params, header.clone()))
    );
    if let Some(v) = param(offer, "server_max_window_bits") {
        assert!(params.server_max_window_bits <= bits(v));
    }
    match param(offer, "client_max_window_bits") {
        None => assert_eq!(params.client_max_window_bits, 15),
        Some(Some(v)) => assert!(params.client_max_window_bits <= bits(&Some(v.clone()))),
        Some(None) => {}
    }
    if param(offer, "server_no_context_takeover").is_some() {
        assert!(params.server_no_context_takeover);
    }
    if param(offer, "client_no_context_takeover").is_some() {
        assert!(params.client_no_context_takeover);
    }

    // The response header parses back and the matching client confirms it.
    let response = parse_extensions([header.as_str()]).expect("the response header parses");
    assert_eq!(response.len(), 1, "{header}");
    assert_eq!(response[0].name, EXTENSION_NAME);
    let client = client_for(offer);
    let confirmed = client
        .confirm(&response[0])
        .unwrap_or_else(|e| panic!("{offer:?} -> {header:?} not confirmed: {e:?}"));
    assert_eq!(negotiated(&confirmed), negotiated(&params), "{header}");
    check_offer(&client);
}

fn check_offer(client: &DeflateConfig) {
    let offer = client.offer();
    let parsed = parse_extensions([offer.as_str()]).expect("an offer parses");
    assert_eq!(parsed.len(), 1);
    for server in server_configs() {
        assert!(server.accept(&parsed).is_some(), "{offer} declined");
    }
}

fn check_confirm(client: &DeflateConfig, e: &Extension) {
    if let Ok(p) = client.confirm(e) {
        assert!(in_range(&p), "{p:?}");
        assert!(p.server_max_window_bits <= client.server_max_window_bits);
        assert!(p.client_max_window_bits <= client.client_max_window_bits);
        assert!(p.server_no_context_takeover || !client.server_no_context_takeover);
        assert!(p.client_no_context_takeover || !client.client_no_context_takeover);
    }
}

fuzz_target!(|data: &[u8]| {
    // Several header values, separated by newlines.
    let text = String::from_utf8_lossy(data);
    let values: Vec<&str> = text.split('\n').collect();
    let Ok(exts) = parse_extensions(values.iter().copied()) else {
        return;
    };
    for e in &exts {
        assert!(is_token(&e.name), "{:?}", e.name);
        for (k, v) in &e.params {
            assert!(is_token(k), "{k:?}");
            if let Some(v) = v {
                assert!(is_token(v), "{v:?}");
            }
        }
    }
    let again = serialize(&exts);
    assert_eq!(
        parse_extensions([again.as_str()]).as_ref(),
        Ok(&exts),
        "{again}"
    );

    let configs = server_configs();
    for server in &configs {
        check_accept(server, &exts);
    }
    for e in exts.iter().take(8) {
        for client in &configs {
            check_confirm(client, e);
        }
    }
});
