// The official socket.io-client browser bundle in real headless Chromium (Debian's `chromium`,
// driven by `playwright-core`), for crates/wsx-socketio/tests/chromium_socketio.rs.
//
// usage: node sio.mjs     (one browser for the whole test binary; pages come and go)
//
// Reads one JSON command per line on stdin, each with a "page" id:
//   {"op":"open_page","page":P,"url":U}   a new browser context and page at U, which must load
//                                          the bundle (window.io) and ../node/sio_core.js
//                                          (window.SioCore); answers {"page":P,"ev":"page_ready"}
//   {"op":"close_page","page":P}
//   any other command: run by the sio_core.js driver inside page P (see its header)
// Prints one JSON event per line on stdout, each with its "page"; the page's events keep their
// order. Errors: {"page":P,"ev":"error","seq","message"} (page null: the whole browser);
// the page's console errors: {"page":P,"ev":"console","text"}.
// Exits when stdin closes.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

let stdoutGone = false;
const out = (obj) => {
  if (!stdoutGone) process.stdout.write(JSON.stringify(obj) + "\n");
};
const errorText = (e) => String((e && e.stack) || e);

const browserP = chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
browserP.catch((e) => out({ page: null, ev: "error", seq: null, message: `chromium launch: ${errorText(e)}` }));

const pages = new Map(); // page id -> { ctx, page, chain }

async function openPage(id, entry, url) {
  const browser = await browserP;
  entry.ctx = await browser.newContext();
  const page = (entry.page = await entry.ctx.newPage());
  // Events cross from the page one call at a time; number them so they print in page order.
  let next = 1;
  const held = new Map();
  await page.exposeFunction("__sioOut", (n, obj) => {
    held.set(n, obj);
    while (held.has(next)) {
      out({ page: id, ...held.get(next) });
      held.delete(next++);
    }
  });
  page.on("pageerror", (e) => out({ page: id, ev: "error", seq: null, message: `pageerror: ${errorText(e)}` }));
  // Console errors (a CORS refusal, a failed load) go to the test as events: it shows the
  // ones it did not expect when it fails.
  page.on("console", (m) => {
    if (m.type() === "error") out({ page: id, ev: "console", text: m.text() });
  });
  await page.goto(url);
  await page.waitForFunction(() => window.io && window.io.Manager && window.SioCore, null, { timeout: 10000 });
  const info = await page.evaluate(() => {
    let n = 0;
    window.__sioDriver = window.SioCore.create({
      Manager: window.io.Manager,
      out: (obj) => window.__sioOut(++n, obj),
    });
    return { userAgent: navigator.userAgent, origin: location.origin };
  });
  // The bundle does not carry its version; the driver checks the npm package it came from.
  const { createRequire } = await import("node:module");
  const version = createRequire(import.meta.url)("socket.io-client/package.json").version;
  out({ page: id, ev: "page_ready", version, ...info });
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    out({ page: null, ev: "error", seq: null, message: `bad command line: ${e.message}` });
    return;
  }
  const id = cmd.page;
  const fail = (e) => out({ page: id, ev: "error", seq: cmd.seq === undefined ? null : cmd.seq, message: errorText(e) });
  if (cmd.op === "open_page") {
    const entry = {};
    entry.chain = openPage(id, entry, cmd.url).catch(fail);
    pages.set(id, entry);
    return;
  }
  const entry = pages.get(id);
  if (!entry) {
    fail(new Error(`no page ${id}`));
    return;
  }
  if (cmd.op === "close_page") {
    pages.delete(id);
    entry.chain = entry.chain.then(() => entry.ctx && entry.ctx.close()).catch(() => {});
    return;
  }
  // Commands run one after the other, in order, inside the page.
  entry.chain = entry.chain
    .then(() => entry.page.evaluate((c) => window.__sioDriver.handle(c), cmd))
    .catch(fail);
});
let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  try {
    const browser = await browserP;
    await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 5000))]);
  } finally {
    process.exit(0);
  }
}
lines.on("close", shutdown);
// The test binary exited (its end of the pipe is closed): stop printing, close the browser.
process.stdout.on("error", () => {
  stdoutGone = true;
  shutdown();
});
