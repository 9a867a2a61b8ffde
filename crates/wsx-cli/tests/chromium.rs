//! The demo page in real headless Chromium (Debian's `chromium`, driven by `playwright-core`):
//! two pages, one over a plain WebSocket and one over Socket.IO, join a room, a message typed in one appears in the other's log and on its
//! live-comment stage, the server restarts and both pages reconnect and rejoin by themselves.
//! The screenshot is kept at `target/e2e/demo.png`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[test]
fn two_pages_chat_see_live_comments_and_reconnect_after_a_restart() {
    let steps = common::run_browser_script("demo.mjs", "demo.png", false);
    common::assert_steps(
        &steps,
        &[
            "mixed-transports",
            "both-joined",
            "message-delivered",
            "screenshot",
            "saw-disconnect",
            "reconnected",
            "done",
        ],
    );
}
