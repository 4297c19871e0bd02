// Python in the page, measured in headless Chromium against a running daemon (a benchmark, not a
// test: it prints numbers). Started by scripts/bench-python.sh with the daemon's page address and pid.
//
//   node bench/python.mjs PAGES_URL DAEMON_PID [ROUNDS]
//
// - Ready time: from opening lesson 1 (in Python) to Python ready (Pyodide loaded, the bridge's
//   socket module installed), cold (a new browser profile: nothing cached) and warm (the same
//   profile, opened again: the daemon answers 304 for what the browser has). Median of ROUNDS.
// - Round trip: 200 `sendall(64 bytes)` + `recv` pairs to the daemon's echo lab service, from the
//   page's Python and from the page's JavaScript, in the same page and session (after 200 untimed).
// - Memory: the renderer process's resident memory with the lesson page open before Python, with
//   Python ready, and with lesson 4's server and client both running (the server waiting in accept).
//
// Times come from performance.now(), which a page that is not cross-origin isolated sees in steps of
// 100 µs; the round trip is a mean over 200 pairs.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const require = createRequire(`${root}tests/browser/package.json`);
const { chromium } = require("playwright-core");

const [pages, daemonPid, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 5);
const base = pages.split("#")[0].replace(/\/$/, "");
const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"];

/** A process's resident memory in MB (0 once it is gone). */
function rssMb(pid) {
  try {
    const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return kib ? Number(kib[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Opens lesson 1 in Python (or, `again`, loads it anew) and resolves to the ms from navigation start
 * to Python ready.
 */
async function readyTime(page, again = false) {
  if (again) await page.reload(); // not goto: the same address with a new fragment only scrolls
  else await page.goto(`${base}/?lang=en#/lesson/naming`);
  await page.waitForFunction(() => document.documentElement.dataset.python === "ready", null, { timeout: 120_000 });
  return page.evaluate(() => performance.now());
}

/** A tab that holds this run's token (opened at the address the daemon printed), lessons in `code`. */
async function context(browser, code = "python") {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(pages);
  await page.waitForFunction(() => !location.hash.includes("sb-token"));
  await page.evaluate((code) => localStorage.setItem("sockbridge-code", code), code);
  return { ctx, page };
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ARGS });
try {
  const cold = [], warm = [];
  for (let i = 0; i < rounds; i++) {
    // A new profile each round: nothing in the HTTP cache or the compiled-code cache.
    const fresh = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ARGS });
    const { page } = await context(fresh);
    cold.push(await readyTime(page));
    warm.push(await readyTime(page, true)); // the same profile again: a student's next visit
    await fresh.close();
  }

  const { page } = await context(browser);
  await readyTime(page);
  const rtt = await page.evaluate(async () => {
    const sb = await import("/pkg/sockbridge.js");
    const { startPython } = await import("/python.js");
    const bridge = await sb.Bridge.connect();
    const echo = bridge.hello.labs.echo_tcp;
    // JavaScript: the same calls as the Python below.
    const s = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM);
    await s.connect(echo);
    await s.setsockopt(sb.IPPROTO_TCP, sb.TCP_NODELAY, 1);
    const msg = new Uint8Array(64).fill(0x42);
    const pair = async () => {
      await s.sendall(msg);
      let n = 0;
      while (n < 64) n += (await s.recv(64 - n)).length;
    };
    for (let i = 0; i < 200; i++) await pair();
    let t = performance.now();
    for (let i = 0; i < 200; i++) await pair();
    const js = (performance.now() - t) * 1000 / 200;
    await s.close();
    const python = await startPython(bridge);
    const lines = [];
    await python.run(`
import socket, time
s = socket.create_connection(labs.echo_tcp)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
msg = b'B' * 64
def pair():
    s.sendall(msg)
    n = 0
    while n < 64:
        n += len(s.recv(64 - n))
for _ in range(200):
    pair()
t = time.perf_counter()
for _ in range(200):
    pair()
print((time.perf_counter() - t) * 1e6 / 200)
s.close()
`, { print: (l) => lines.push(l) });
    bridge.close();
    return { js, python: Number(lines[0]) };
  });

  // Memory: the renderer of a page with lesson 4 open, then both of its programs running.
  const cdp = await browser.newBrowserCDPSession();
  const renderers = async () => (await cdp.send("SystemInfo.getProcessInfo")).processInfo
    .filter((p) => p.type === "renderer").map((p) => p.id);
  const before = new Set(await renderers());
  const { page: tab } = await context(browser, "javascript");
  await tab.goto(`${base}/?lang=en#/lesson/server`);
  await tab.waitForSelector("button.run");
  const pid = (await renderers()).find((p) => !before.has(p));
  const settle = () => new Promise((r) => setTimeout(r, 1500));
  await settle();
  const noPython = rssMb(pid);
  await tab.click('.languages [data-language="python"]');
  await tab.waitForFunction(() => document.documentElement.dataset.python === "ready", null, { timeout: 120_000 });
  await settle();
  const pythonReady = rssMb(pid);
  await tab.click("button.run");
  await tab.waitForFunction(() => document.querySelector('.program[data-name="client.py"] .program-status').dataset.state === "done");
  await settle();
  const twoPrograms = rssMb(pid);
  const heapMb = await tab.evaluate(() => (performance.memory ? performance.memory.usedJSHeapSize / 2 ** 20 : null));
  const daemon = rssMb(Number(daemonPid));

  const f = (x) => x.toFixed(0);
  console.log(`python: ready time from opening a lesson, median of ${rounds}: cold ${f(median(cold))} ms ` +
    `(runs ${cold.map(f).join(", ")}), warm ${f(median(warm))} ms (runs ${warm.map(f).join(", ")})`);
  console.log(`python: sendall(64 B) + recv round trip to the echo lab, mean of 200: Python ${rtt.python.toFixed(0)} µs, ` +
    `JavaScript ${rtt.js.toFixed(0)} µs`);
  console.log(`python: renderer memory (RSS) of the lesson-4 page: ${f(noPython)} MB before Python, ` +
    `${f(pythonReady)} MB with Python ready, ${f(twoPrograms)} MB with server.py and client.py running ` +
    `(of it, JavaScript's heap ${heapMb === null ? "n/a" : `${f(heapMb)} MB`}); the daemon ${f(daemon)} MB`);
} finally {
  await browser.close();
}
