//! Interop with the official `socket.io-client` browser bundle (`dist/socket.io.min.js`) in
//! real headless Chromium (Debian's `chromium`, driven by `playwright-core` through
//! `interop/chromium/sio.mjs`). One browser serves the whole binary; every test opens its own
//! page from its own wsx server (127.0.0.1:0), which also serves the bundle and the driver.
//! Installed by `interop/setup.sh`; without it these tests fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sio_interop;

use sio_interop::Kind::Chromium;
use sio_interop::scenarios as s;

macro_rules! chromium_tests {
    ($($name:ident => $scenario:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $scenario.await
        }
    )*};
}

chromium_tests! {
    browser_polling_only => s::single_transport(Chromium, "polling");
    browser_websocket_only => s::single_transport(Chromium, "websocket");
    browser_upgrade_without_losing_or_duplicating => s::upgrade_without_loss(Chromium);
    browser_rooms => s::rooms(Chromium);
    browser_client_acks => s::client_acks(Chromium);
    browser_ack_timeouts_on_both_sides => s::ack_timeouts(Chromium);
    browser_binary_array_buffers_over_websocket => s::binary(Chromium, "websocket");
    browser_binary_array_buffers_over_polling => s::binary(Chromium, "polling");
    browser_middleware_refusal => s::middleware(Chromium);
    browser_cross_origin_polling_needs_cors => s::cors(Chromium);
    browser_streams_both_ways_over_polling => s::streams_both_ways(Chromium, "polling");
    browser_reconnect_with_state_recovery => s::recovery(Chromium, "websocket");
}
