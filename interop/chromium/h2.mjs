// The demo page in real headless Chromium over HTTPS, where Chromium speaks HTTP/2 (ALPN h2):
// its WebSockets then go as streams of that HTTP/2 connection (RFC 8441), when the server
// allows it. Two users, one over a plain WebSocket (/chat), one over Socket.IO, chat; then the
// server's /metrics tells how many WebSockets came as HTTP/2 streams.
//
// usage: node h2.mjs BASE_URL SCREENSHOT.png  (BASE_URL is https://localhost:PORT, any cert)
// Prints one JSON line per step; exits 0 after {"step":"done"}, 1 on any failure.
import { chromium } from "playwright-core";
import https from "node:https";

const [base, shot] = process.argv.slice(2);
const step = (name, extra = {}) => console.log(JSON.stringify({ step: name, ...extra }));

/** GET over HTTPS (HTTP/1.1, any certificate): the body. */
const get = (url) => new Promise((resolve, reject) => {
  https.get(url, { rejectUnauthorized: false }, (res) => {
    let body = "";
    res.on("data", (c) => (body += c));
    res.on("end", () => resolve(body));
  }).on("error", reject);
});
const metric = (text, name) => {
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  return line ? Number(line.split(" ")[1]) : 0;
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--ignore-certificate-errors"],
});
try {
  const pages = [];
  for (const [nick, transport] of [["alice", ""], ["bob", "&transport=socket.io"]]) {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 760 }, ignoreHTTPSErrors: true });
    const page = await ctx.newPage();
    page.on("pageerror", (e) => step("page-error", { nick, message: String(e) }));
    const resp = await page.goto(`${base}/?room=h2&nick=${nick}${transport}`);
    step("loaded", { nick, status: resp.status() });
    await page.waitForSelector("body[data-connection=open]", { timeout: 15000 });
    await page.click("#join-btn");
    await page.waitForSelector("#text:not([disabled])", { timeout: 10000 });
    pages.push(page);
  }
  const [alice, bob] = pages;
  await alice.waitForFunction(() => document.getElementById("count").textContent === "2", null, { timeout: 10000 });
  step("both-joined");
  await alice.fill("#text", "hello over h2");
  await alice.press("#text", "Enter");
  await bob.locator("#log li.msg", { hasText: "hello over h2" }).waitFor({ timeout: 10000 });
  step("message-delivered");
  await bob.screenshot({ path: shot });
  step("screenshot", { path: shot });
  const m = await get(`${base}/metrics`);
  step("metrics", {
    accepted: metric(m, "wsx_connections_accepted_total"),
    http2: metric(m, "wsx_connections_http2_total"),
  });
  step("done");
} catch (e) {
  step("failed", { message: String(e && e.stack || e) });
  process.exitCode = 1;
} finally {
  await browser.close();
}
