//! The collaborative pad (`/pad/<room>`) in real headless Chromium (Debian's `chromium`, driven
//! by `playwright-core`): two pages type into the same text at once and converge, each sees the
//! other's name and cursor; the server restarts while both are offline, a fresh page finds the
//! text in the server's store (`--data-dir`), both pages reconnect by themselves and editing goes
//! on. The page's Yjs side is ours (`crates/wsx-web` in WebAssembly). The screenshot is kept at
//! `target/e2e/pad.png`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[test]
fn two_pages_edit_one_pad_see_each_other_and_the_text_survives_a_restart() {
    let steps = common::run_browser_script("pad.mjs", "pad.png", true);
    common::assert_steps(
        &steps,
        &[
            "both-synced",
            "presence",
            "first-text",
            "typed-at-once",
            "converged",
            "cursors",
            "screenshot",
            "saw-disconnect",
            "loaded-from-store",
            "reconnected",
            "fresh-page-loads",
            "done",
        ],
    );
}
