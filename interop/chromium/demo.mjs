// End-to-end test of the `wsx serve` demo page in real headless Chromium.
//
// usage: node demo.mjs BASE_URL SCREENSHOT.png
// Protocol with the driver (crates/wsx-cli/tests/chromium.rs): prints one JSON line per step on
// stdout; prints {"step":"restart-now"} and waits for a line on stdin once the server has been
// stopped and started again; exits 0 after {"step":"done"}, 1 on any failure.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [base, shot] = process.argv.slice(2);
const step = (name, extra = {}) => console.log(JSON.stringify({ step: name, ...extra }));
// Lines from the driver are queued from the start, so none is lost while we are busy.
const lines = createInterface({ input: process.stdin });
const queued = [];
const waiting = [];
lines.on("line", (l) => (waiting.length ? waiting.shift()(l) : queued.push(l)));
const nextLine = () => new Promise((resolve) => (queued.length ? resolve(queued.shift()) : waiting.push(resolve)));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  // Two independent browser contexts: two users, alice over a plain WebSocket (/chat) and
  // bob over Socket.IO (/socket.io/), in the same room.
  const pages = [];
  for (const [nick, transport] of [["alice", ""], ["bob", "&transport=socket.io"]]) {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    const page = await ctx.newPage();
    page.on("pageerror", (e) => step("page-error", { nick, message: String(e) }));
    await page.goto(`${base}/?room=e2e&nick=${nick}${transport}`);
    await page.waitForSelector("body[data-connection=open]", { timeout: 15000 });
    await page.click("#join-btn");
    await page.waitForSelector("#text:not([disabled])", { timeout: 10000 });
    pages.push(page);
  }
  const [alice, bob] = pages;
  await bob.locator("#transport", { hasText: "Socket.IO" }).waitFor({ timeout: 5000 });
  await alice.locator("#transport", { hasText: "WebSocket" }).waitFor({ timeout: 5000 });
  step("mixed-transports");
  await alice.waitForFunction(() => document.getElementById("count").textContent === "2", null, { timeout: 10000 });
  step("both-joined");

  await alice.fill("#text", "hello from alice");
  await alice.press("#text", "Enter");
  await bob.locator("#log li.msg", { hasText: "hello from alice" }).waitFor({ timeout: 10000 });
  await bob.locator("#stage .bullet", { hasText: "hello from alice" }).waitFor({ timeout: 10000 });
  // The comment really flies: it crosses into the left half of the stage.
  await bob.waitForFunction(() => {
    const stage = document.getElementById("stage").getBoundingClientRect();
    return [...document.querySelectorAll("#stage .bullet")].some((b) =>
      b.textContent === "hello from alice" && b.getBoundingClientRect().left < stage.left + stage.width / 2);
  }, null, { timeout: 15000 });
  step("message-delivered");
  await bob.screenshot({ path: shot });
  step("screenshot", { path: shot });

  // The driver stops the server (graceful, 1001) and starts it again on the same port.
  step("restart-now");
  await alice.waitForSelector("body[data-connection=closed]", { timeout: 15000 });
  step("saw-disconnect");
  await nextLine();
  for (const p of pages) await p.waitForSelector("body[data-connection=open]", { timeout: 30000 });
  // Both pages rejoin the room by themselves.
  await alice.waitForFunction(() => document.getElementById("count").textContent === "2", null, { timeout: 15000 });
  step("reconnected");
  await bob.fill("#text", "back again");
  await bob.press("#text", "Enter");
  await alice.locator("#log li.msg", { hasText: "back again" }).waitFor({ timeout: 10000 });
  await alice.locator("#stage .bullet", { hasText: "back again" }).waitFor({ timeout: 10000 });
  step("done");
} catch (e) {
  step("failed", { message: String(e && e.stack || e) });
  process.exitCode = 1;
} finally {
  await browser.close();
  lines.close();
}
