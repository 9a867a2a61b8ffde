//! Server handshake behaviour: path routing, verify hook, origin allow-list, subprotocol
//! selection, bad requests, handshake deadline and max connections.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use http::{HeaderValue, StatusCode};
use wsx::{ClientBuilder, Rejection, Server, is_refused};

#[tokio::test]
async fn unknown_path_gets_404_and_known_path_upgrades() {
    let (addr, ..) = echo_server(Server::builder().path("/echo")).await;
    let err = within(wsx::connect(&url(addr, "/nope"))).await.unwrap_err();
    assert!(is_refused(&err, 404), "{err}");
    let (mut ws, _) = within(wsx::connect(&url(addr, "/echo"))).await.unwrap();
    ws.send(text("hi")).await.unwrap();
    assert_eq!(within(ws.recv()).await.unwrap().unwrap(), text("hi"));
}

#[tokio::test]
async fn verify_hook_sees_the_request_and_can_reject_with_any_response() {
    let builder = Server::builder().verify(|r| {
        assert!(r.peer_addr.is_some());
        match r.query() {
            Some("token=good") => Ok(()),
            _ => Err(
                Rejection::new(StatusCode::UNAUTHORIZED, "bad token\n").header(
                    http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer"),
                ),
            ),
        }
    });
    let (addr, ..) = echo_server(builder).await;
    let (head, _) = raw_request(addr, &upgrade_head("/?token=bad", "")).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );
    assert!(
        within(wsx::connect(&url(addr, "/?token=good")))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn origin_allow_list_rejects_others_with_403() {
    let (addr, ..) = echo_server(Server::builder().allow_origins(["https://good.example"])).await;
    let bad = within(
        ClientBuilder::new(url(addr, "/"))
            .origin("https://evil.example")
            .connect(),
    )
    .await
    .unwrap_err();
    assert!(is_refused(&bad, 403), "{bad}");
    let none = within(wsx::connect(&url(addr, "/"))).await.unwrap_err();
    assert!(is_refused(&none, 403), "{none}");
    assert!(
        within(
            ClientBuilder::new(url(addr, "/"))
                .origin("https://GOOD.example")
                .connect()
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn first_mutually_supported_subprotocol_is_selected() {
    let (addr, ..) = echo_server(Server::builder().protocols(["b", "c"])).await;
    let (ws, resp) = within(
        ClientBuilder::new(url(addr, "/"))
            .protocol("a")
            .protocol("c")
            .protocol("b")
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(ws.protocol(), "c");
    assert_eq!(resp.headers()["sec-websocket-protocol"], "c");
    let (ws, resp) = within(ClientBuilder::new(url(addr, "/")).protocol("x").connect())
        .await
        .unwrap();
    assert_eq!(ws.protocol(), "");
    assert!(resp.headers().get("sec-websocket-protocol").is_none());
}

#[tokio::test]
async fn custom_subprotocol_selection_hook() {
    let b = Server::builder().select_protocol(|offered, _req| offered.last().cloned());
    let (addr, ..) = echo_server(b).await;
    let (ws, _) = within(
        ClientBuilder::new(url(addr, "/"))
            .protocol("a")
            .protocol("z")
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(ws.protocol(), "z");
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let (addr, ..) = echo_server(Server::builder()).await;
    let (h, _) = raw_request(
        addr,
        &upgrade_head("/", "").replace("Version: 13", "Version: 8"),
    )
    .await;
    assert!(h.starts_with("HTTP/1.1 426"), "{h}");
    assert!(
        h.to_ascii_lowercase().contains("sec-websocket-version: 13"),
        "{h}"
    );
    let (h, _) = raw_request(addr, &upgrade_head("/", "").replace("GET", "POST")).await;
    assert!(h.starts_with("HTTP/1.1 405"), "{h}");
    let (h, _) = raw_request(
        addr,
        &upgrade_head("/", "").replace("Upgrade: websocket\r\n", ""),
    )
    .await;
    assert!(h.starts_with("HTTP/1.1 400"), "{h}");
    let (h, _) = raw_request(
        addr,
        &upgrade_head("/", &format!("X-Big: {}\r\n", "a".repeat(20_000))),
    )
    .await;
    assert!(h.starts_with("HTTP/1.1 431"), "{h}");
    let (h, _) = raw_request(addr, "GARBAGE\r\n\r\n").await;
    assert!(h.starts_with("HTTP/1.1 400"), "{h}");
}

#[tokio::test]
async fn slow_handshake_is_dropped_at_the_deadline() {
    let (addr, ..) =
        echo_server(Server::builder().handshake_timeout(Duration::from_millis(200))).await;
    let started = std::time::Instant::now();
    // Half a request head, then nothing (slowloris).
    let (resp, _) = raw_request(addr, "GET / HTTP/1.1\r\nHost: x\r\n").await;
    assert_eq!(resp, "", "connection closed without a response");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn connections_over_the_maximum_get_503() {
    let (addr, ..) = echo_server(Server::builder().max_connections(2)).await;
    let (_a, _) = within(wsx::connect(&url(addr, "/"))).await.unwrap();
    let (_b, _) = within(wsx::connect(&url(addr, "/"))).await.unwrap();
    let err = within(wsx::connect(&url(addr, "/"))).await.unwrap_err();
    assert!(is_refused(&err, 503), "{err}");
    drop(_a);
    // The slot frees once the server notices the first connection is gone.
    within(async {
        loop {
            if wsx::connect(&url(addr, "/")).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}
