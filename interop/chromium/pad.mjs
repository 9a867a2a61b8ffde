// End-to-end test of the collaborative pad (`/pad/<room>`) in real headless Chromium.
//
// usage: node pad.mjs BASE_URL SCREENSHOT.png [WS_BASE]
// BASE_URL serves the page (`wsx serve`); WS_BASE, if given, is passed as the page's `?ws=`
// (another y-websocket server, for development against the Node reference server).
// Protocol with the driver (crates/wsx-cli/tests/chromium_pad.rs), as demo.mjs: one JSON line per
// step on stdout; {"step":"restart-now"}, then waits for a line on stdin once the server has been
// stopped and started again; exits 0 after {"step":"done"}, 1 on any failure.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [base, shot, wsBase] = process.argv.slice(2);
const step = (name, extra = {}) => console.log(JSON.stringify({ step: name, ...extra }));
const lines = createInterface({ input: process.stdin });
const queued = [];
const waiting = [];
lines.on("line", (l) => (waiting.length ? waiting.shift()(l) : queued.push(l)));
const nextLine = () => new Promise((resolve) => (queued.length ? resolve(queued.shift()) : waiting.push(resolve)));

const room = "e2e-" + Math.random().toString(36).slice(2, 8);
const extra = wsBase ? "&ws=" + encodeURIComponent(wsBase) : "";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const text = (page) => page.$eval("#text", (t) => t.value);
const waitText = (page, expected, timeout = 10000) =>
  page.waitForFunction((e) => document.getElementById("text").value === e, expected, { timeout });
async function open(name) {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => step("page-error", { name, message: String(e) }));
  page.on("console", (m) => { if (m.type() === "error") step("console-error", { name, message: m.text() }); });
  await page.goto(`${base}/pad/${room}?name=${name}${extra}`);
  await page.waitForSelector("body[data-connection=open][data-synced=true]", { timeout: 15000 });
  await page.waitForSelector("#text:not([disabled])", { timeout: 5000 });
  return page;
}
try {
  const alice = await open("alice");
  const bob = await open("bob");
  step("both-synced", { room });

  // Both see each other in the list of who is here.
  for (const [page, other] of [[alice, "bob"], [bob, "alice"]]) {
    await page.locator(`#peers li[data-name="${other}"]`).waitFor({ timeout: 10000 });
  }
  step("presence");

  await alice.focus("#text");
  await alice.keyboard.type("Hello from alice.\n", { delay: 5 });
  await waitText(bob, "Hello from alice.\n");
  step("first-text");

  // Both type at once, alice at the start and bob at the end: neither disturbs the other's caret.
  await alice.keyboard.press("Control+Home");
  await bob.focus("#text");
  await bob.keyboard.press("Control+End");
  await Promise.all([
    alice.keyboard.type("[alice was here] ", { delay: 25 }),
    bob.keyboard.type("bob writes too", { delay: 25 }),
  ]);
  const expected = "[alice was here] Hello from alice.\nbob writes too";
  await waitText(alice, expected);
  await waitText(bob, expected);
  step("typed-at-once", { text: expected });

  // Both type at the same spot at once: the texts converge and each keeps its keystrokes' order.
  await alice.keyboard.press("Control+End");
  await Promise.all([
    alice.keyboard.type(" ALICE", { delay: 20 }),
    bob.keyboard.type(" bob", { delay: 20 }),
  ]);
  const total = expected.length + " ALICE".length + " bob".length;
  for (const p of [alice, bob]) {
    await p.waitForFunction((n) => document.getElementById("text").value.length === n, total, { timeout: 10000 });
  }
  const [ta, tb] = [await text(alice), await text(bob)];
  if (ta !== tb) throw new Error(`texts differ: ${JSON.stringify(ta)} vs ${JSON.stringify(tb)}`);
  const tail = ta.slice(expected.length);
  const subsequence = (s, of) => { let i = 0; for (const c of of) if (c === s[i]) i++; return i === s.length; };
  if (!subsequence(" ALICE", tail) || !subsequence(" bob", tail)) throw new Error(`keystrokes lost or reordered: ${JSON.stringify(tail)}`);
  step("converged", { text: ta });

  // Each sees the other's cursor, named; bob selects a word so that the screenshot shows one.
  await bob.keyboard.press("Control+Home");
  for (let i = 0; i < 7; i++) await bob.keyboard.press("ArrowRight");
  for (let i = 0; i < 5; i++) await bob.keyboard.press("Shift+ArrowRight");
  await alice.keyboard.press("ArrowLeft");
  await alice.locator('.peer-caret[data-name="bob"]').waitFor({ timeout: 10000 });
  await bob.locator('.peer-caret[data-name="alice"]').waitFor({ timeout: 10000 });
  await alice.locator(".peer-selection").waitFor({ timeout: 10000 });
  step("cursors");
  await alice.screenshot({ path: shot });
  step("screenshot", { path: shot });
  const before = await text(alice);

  // The driver stops the server (graceful) and starts it again on the same port. alice and bob
  // are taken offline first, so that they cannot upload the text again when the server is back:
  // a fresh page must then find it in the server's store (`--data-dir`). With WS_BASE (the Node
  // reference server, which stores nothing) that check is skipped.
  const storeCheck = !wsBase;
  if (storeCheck) for (const p of [alice, bob]) await p.context().setOffline(true);
  step("restart-now");
  await alice.waitForSelector("body[data-connection=closed]", { timeout: 15000 });
  step("saw-disconnect");
  await nextLine();
  if (storeCheck) {
    const carol = await open("carol");
    await waitText(carol, before);
    step("loaded-from-store", { text: before });
    await carol.close();
    for (const p of [alice, bob]) await p.context().setOffline(false);
  }
  for (const p of [alice, bob]) {
    await p.waitForSelector("body[data-connection=open][data-synced=true]", { timeout: 30000 });
  }
  if ((await text(alice)) !== before || (await text(bob)) !== before) throw new Error("text changed across the restart");
  await alice.locator('.peer-caret[data-name="bob"]').waitFor({ timeout: 20000 });
  step("reconnected");

  // A fresh page loads the text, and editing goes on.
  const dave = await open("dave");
  await waitText(dave, before);
  step("fresh-page-loads", { text: before });
  await bob.focus("#text");
  await bob.keyboard.press("Control+End");
  await bob.keyboard.type("!", { delay: 5 });
  for (const p of [alice, dave]) await waitText(p, before + "!");
  step("done");
} catch (e) {
  step("failed", { message: String(e && e.stack || e) });
  process.exitCode = 1;
} finally {
  await browser.close();
  lines.close();
}
