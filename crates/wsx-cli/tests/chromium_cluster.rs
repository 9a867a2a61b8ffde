//! The demo page in real headless Chromium across two `wsx serve --redis` processes: alice's
//! page on process A over a plain WebSocket, bob's page on process B over Socket.IO, one room;
//! each sees the other in presence and gets the other's messages in the log and on the stage.
//!
//! Needs what `interop/setup.sh` installs: Debian's `chromium` and `redis-server`, and
//! `playwright-core` in `interop/node_modules`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{Kill, Redis, ServeProc, repo_root};

/// The browser script: `node cluster.mjs INTEROP_DIR BASE_A BASE_B`; one JSON line per step.
const SCRIPT: &str = r###"
import { createRequire } from "node:module";
const [interop, baseA, baseB] = process.argv.slice(2);
const { chromium } = createRequire(`${interop}/package.json`)("playwright-core");
const step = (name, extra = {}) => console.log(JSON.stringify({ step: name, ...extra }));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const pages = [];
  for (const [nick, url] of [["alice", `${baseA}/?room=e2e&nick=alice`],
                             ["bob", `${baseB}/?room=e2e&nick=bob&transport=socket.io`]]) {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    const page = await ctx.newPage();
    page.on("pageerror", (e) => step("page-error", { nick, message: String(e) }));
    await page.goto(url);
    await page.waitForSelector("body[data-connection=open]", { timeout: 15000 });
    await page.click("#join-btn");
    await page.waitForSelector("#text:not([disabled])", { timeout: 10000 });
    pages.push(page);
  }
  const [alice, bob] = pages;
  for (const p of pages) {
    await p.waitForFunction(() => document.getElementById("count").textContent === "2", null, { timeout: 10000 });
  }
  step("both-joined");
  await alice.fill("#text", "hello from process A");
  await alice.press("#text", "Enter");
  await bob.locator("#log li.msg", { hasText: "hello from process A" }).waitFor({ timeout: 10000 });
  await bob.locator("#stage .bullet", { hasText: "hello from process A" }).waitFor({ timeout: 10000 });
  step("a-to-b");
  await bob.fill("#text", "hello from process B");
  await bob.press("#text", "Enter");
  await alice.locator("#log li.msg", { hasText: "hello from process B" }).waitFor({ timeout: 10000 });
  await alice.locator("#stage .bullet", { hasText: "hello from process B" }).waitFor({ timeout: 10000 });
  step("b-to-a");
  step("done");
} catch (e) {
  step("failed", { message: String(e && e.stack || e) });
  process.exitCode = 1;
} finally {
  await browser.close();
}
"###;

#[test]
fn two_pages_on_two_processes_chat_through_redis() {
    let root = repo_root();
    let interop = root.join("interop");
    assert!(
        interop.join("node_modules/playwright-core").is_dir()
            && Path::new("/usr/bin/chromium").exists()
            && Path::new("/usr/bin/redis-server").exists(),
        "playwright-core, /usr/bin/chromium or /usr/bin/redis-server is missing: run interop/setup.sh"
    );
    let redis = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(Redis::start());
    let data = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let servers: Vec<ServeProc> = data
        .iter()
        .map(|data| {
            ServeProc::start(
                0,
                &[
                    "--data-dir".as_ref(),
                    data.path().as_os_str(),
                    "--redis".as_ref(),
                    redis.url().as_ref(),
                ],
            )
        })
        .collect();
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();

    let dir = root.join("target/e2e");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("cluster.mjs");
    std::fs::write(&script, SCRIPT).unwrap();
    let mut node = Kill(
        Command::new("node")
            .arg(&script)
            .arg(&interop)
            .arg(format!("http://127.0.0.1:{}", ports[0]))
            .arg(format!("http://127.0.0.1:{}", ports[1]))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let steps = common::follow_steps(&mut node, |_, _, _| {});
    common::assert_steps(&steps, &["both-joined", "a-to-b", "b-to-a"]);
}
