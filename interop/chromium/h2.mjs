// The demo page in real headless Chromium over HTTPS, where Chromium speaks HTTP/2 (ALPN h2):
// its WebSockets then go as streams of that HTTP/2 connection (RFC 8441), when the server
// allows it. Two users, one over a plain WebSocket (/chat), one over Socket.IO (Engine.IO
// polling first, then its WebSocket), chat; then two pages edit one collaborative pad (Yjs over
// /yjs/<room>). Chromium's own network log says which protocol each HTTP response came over,
// and the server's /metrics how many WebSockets came as HTTP/2 streams.
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
  // What protocol each HTTP response of the pages came over ("h2", "http/1.1"), by path kind.
  const protocols = {};
  const watch = async (ctx, page) => {
    const cdp = await ctx.newCDPSession(page);
    await cdp.send("Network.enable");
    cdp.on("Network.responseReceived", (e) => {
      const u = new URL(e.response.url);
      const kind = u.pathname.startsWith("/socket.io/")
        ? "engine.io " + (u.searchParams.get("transport") || "?")
        : u.pathname.startsWith("/pad/") ? "pad page" : u.pathname === "/" ? "demo page" : null;
      if (kind) (protocols[kind] ||= new Set()).add(e.response.protocol);
    });
  };
  for (const [nick, transport] of [["alice", ""], ["bob", "&transport=socket.io"]]) {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 760 }, ignoreHTTPSErrors: true });
    const page = await ctx.newPage();
    page.on("pageerror", (e) => step("page-error", { nick, message: String(e) }));
    await watch(ctx, page);
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

  // The official socket.io-client in alice's page, polling first (Engine.IO's long-polling
  // requests are ordinary HTTP requests of the page's connection), then its upgrade.
  const bundle = new URL("../node_modules/socket.io-client/dist/socket.io.min.js", import.meta.url);
  await alice.addScriptTag({ path: bundle.pathname });
  const transport = await alice.evaluate(() => new Promise((resolve, reject) => {
    const socket = io({ transports: ["polling", "websocket"] });
    const timer = setTimeout(() => reject(new Error("no upgrade")), 15000);
    socket.on("connect_error", (e) => reject(new Error(String(e))));
    // The manager's "open" comes when the Engine.IO session opens, before its upgrade probe
    // starts; the upgrade may end before or after the Socket.IO connect.
    let first = null;
    let connected = false;
    const check = () => {
      const name = socket.io.engine && socket.io.engine.transport.name;
      if (connected && first && name === "websocket") {
        clearTimeout(timer);
        resolve({ first, upgraded: name });
      }
    };
    socket.io.on("open", () => {
      first = socket.io.engine.transport.name;
      socket.io.engine.on("upgrade", check);
    });
    socket.on("connect", () => {
      connected = true;
      check();
    });
  }));
  step("engine-io", transport);

  // The collaborative pad: two pages, one document, edits seen on the other side.
  const room = "h2-" + Math.random().toString(36).slice(2, 8);
  const pads = [];
  for (const name of ["carol", "dave"]) {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 }, ignoreHTTPSErrors: true });
    const page = await ctx.newPage();
    page.on("pageerror", (e) => step("page-error", { name, message: String(e) }));
    await watch(ctx, page);
    await page.goto(`${base}/pad/${room}?name=${name}`);
    await page.waitForSelector("body[data-connection=open][data-synced=true]", { timeout: 15000 });
    await page.waitForSelector("#text:not([disabled])", { timeout: 5000 });
    pads.push(page);
  }
  const [carol, dave] = pads;
  await carol.focus("#text");
  await carol.keyboard.type("typed over h2", { delay: 5 });
  await dave.waitForFunction(() => document.getElementById("text").value === "typed over h2", null, { timeout: 10000 });
  step("pad-synced", { room });
  step("protocols", Object.fromEntries(Object.entries(protocols).map(([k, v]) => [k, [...v]])));
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
