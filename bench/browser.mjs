// The wasm client in headless Chromium, on the benchmark's work: started by sockbridge-bench with
// the daemon's page address and the peers' addresses; prints one JSON line of results.
//
//   node bench/browser.mjs PAGES_URL SINK SOURCE ECHO MIB ECHOES WS_SINK WS_SOURCE WS_ECHO \
//     FLOOD SLOW_MIB SLOW_RATE DAEMON_PID
//
// Three parts:
//   - the wasm client, with each codec: upload, download and 64-byte echo RTT;
//   - the page's own WebSocket, sending and receiving raw binary messages through websocat
//     (WS_* are its addresses, or "-" when websocat is not installed): what this Chromium can carry
//     at all, the ceiling any client in the page lives under;
//   - a slow page: the wasm client receives SLOW_MIB MiB from FLOOD but reads at most SLOW_RATE MB/s,
//     while this script samples the daemon's and Chromium's memory.
//
// Times come from performance.now(), which a page that is not cross-origin isolated sees in
// steps of 100 µs: so the RTT is reported as a mean over many echoes, not percentiles.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const require = createRequire(`${root}tests/browser/package.json`);
const { chromium } = require("playwright-core");

const [pages, sink, source, echo, mib, echoes, wsSink, wsSource, wsEcho, flood, slowMib, slowRate, daemonPid] =
  process.argv.slice(2);
const addr = (s) => { const i = s.lastIndexOf(":"); return [s.slice(0, i), Number(s.slice(i + 1))]; };

/** A process's resident memory in bytes (0 once it is gone). */
function rss(pid) {
  try {
    const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return kib ? Number(kib[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  await page.goto(pages);
  await page.waitForFunction(() => !location.hash.includes("sb-token") && localStorage.getItem("sockbridge.token"));
  const result = await page.evaluate(async ([sink, source, echo, mib, echoes, wsSink, wsSource, wsEcho]) => {
    const sb = await import("/pkg/sockbridge.js");
    const CHUNK = 64 * 1024;
    const bytes = mib * 1024 * 1024;
    const out = {};
    for (const codec of ["msgpack", "json"]) {
      const bridge = await sb.Bridge.connect(undefined, { codec });
      // Upload: sendall in 64 KiB writes, as Python code writes; done when close() has delivered.
      const chunk = new Uint8Array(CHUNK).fill(0xa5);
      let s = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM);
      await s.connect(sink);
      let t = performance.now();
      for (let sent = 0; sent < bytes; sent += CHUNK) await s.sendall(chunk);
      await s.close();
      const up = bytes / 1e6 / ((performance.now() - t) / 1e3);
      // Download: recv(65536) until EOF.
      s = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM);
      await s.connect(source);
      let got = 0;
      t = performance.now();
      for (;;) {
        const data = await s.recv(CHUNK);
        if (data.length === 0) break;
        got += data.length;
      }
      const down = got / 1e6 / ((performance.now() - t) / 1e3);
      await s.close();
      if (got !== bytes) throw new Error(`downloaded ${got} of ${bytes} bytes`);
      // RTT: send 64 bytes, then recv them back, as Python code does.
      s = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM);
      await s.connect(echo);
      await s.setsockopt(sb.IPPROTO_TCP, sb.TCP_NODELAY, 1);
      const msg = new Uint8Array(64).fill(0x42);
      const echo64 = async () => {
        await s.send(msg);
        let n = 0;
        while (n < 64) n += (await s.recv(64 - n)).length;
      };
      // Untimed first: the browser compiles the wasm code's hot paths during the first ~1,000 calls.
      for (let i = 0; i < echoes; i++) await echo64();
      t = performance.now();
      for (let i = 0; i < echoes; i++) await echo64();
      const rtt = (performance.now() - t) * 1e3 / echoes;
      await s.close();
      bridge.close();
      out[codec] = { up, down, rtt };
    }
    if (wsSink === "-") return out;

    // The page's own WebSocket through websocat: binary messages of 64 KiB straight to the sink,
    // keeping at most 4 MiB in the browser's send buffer; then everything the source sends; then
    // 64-byte messages echoed.
    const open = async (url) => {
      const ws = new WebSocket(url);
      ws.binaryType = "arraybuffer";
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error(`${url} refused`)); });
      return ws;
    };
    const pause = () => new Promise((resolve) => setTimeout(resolve, 0));
    let ws = await open(wsSink);
    const chunk = new Uint8Array(CHUNK).fill(0xa5);
    let t = performance.now();
    for (let sent = 0; sent < bytes; sent += CHUNK) {
      ws.send(chunk);
      while (ws.bufferedAmount > 4 << 20) await pause();
    }
    while (ws.bufferedAmount > 0) await pause();
    const up = bytes / 1e6 / ((performance.now() - t) / 1e3);
    ws.close();
    ws = await open(wsSource);
    let got = 0;
    t = performance.now();
    await new Promise((resolve) => {
      ws.onmessage = (e) => { got += e.data.byteLength; };
      ws.onclose = resolve;
    });
    const down = got / 1e6 / ((performance.now() - t) / 1e3);
    if (got !== bytes) throw new Error(`the page's WebSocket got ${got} of ${bytes} bytes`);
    ws = await open(wsEcho);
    const msg = new Uint8Array(64).fill(0x42);
    const echo64 = () => {
      let n = 0;
      const back = new Promise((resolve) => {
        ws.onmessage = (e) => { n += e.data.byteLength; if (n >= 64) resolve(); };
      });
      ws.send(msg);
      return back;
    };
    // Untimed first, as for the wasm client.
    for (let i = 0; i < echoes; i++) await echo64();
    t = performance.now();
    for (let i = 0; i < echoes; i++) await echo64();
    const rtt = (performance.now() - t) * 1e3 / echoes;
    ws.close();
    out.websocket = { up, down, rtt };
    return out;
  }, [addr(sink), addr(source), addr(echo), Number(mib), Number(echoes), wsSink, wsSource, wsEcho]);

  // The slow page: memory sampled every 100 ms while it reads.
  const cdp = await browser.newBrowserCDPSession();
  const renderers = async () => (await cdp.send("SystemInfo.getProcessInfo")).processInfo
    .filter((p) => p.type === "renderer").map((p) => p.id);
  const pids = await renderers();
  const pageRss = () => pids.reduce((sum, pid) => sum + rss(pid), 0);
  const slow = { daemonBefore: rss(daemonPid), pageBefore: pageRss(), daemonPeak: 0, pagePeak: 0 };
  const sampler = setInterval(() => {
    slow.daemonPeak = Math.max(slow.daemonPeak, rss(daemonPid));
    slow.pagePeak = Math.max(slow.pagePeak, pageRss());
  }, 100);
  try {
    Object.assign(slow, await page.evaluate(async ([flood, mib, rate]) => {
      const sb = await import("/pkg/sockbridge.js");
      const bridge = await sb.Bridge.connect();
      const s = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM);
      await s.connect(flood);
      // recv(65536), then wait until the page is no further than `rate` MB/s allows.
      let got = 0;
      const t = performance.now();
      for (;;) {
        const data = await s.recv(65536);
        if (data.length === 0) break;
        got += data.length;
        const due = got / (rate * 1e3) - (performance.now() - t);
        if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
      }
      const seconds = (performance.now() - t) / 1e3;
      await s.close();
      bridge.close();
      if (got !== mib * 1024 * 1024) throw new Error(`the slow page got ${got} of ${mib} MiB`);
      return { bytes: got, seconds };
    }, [addr(flood), Number(slowMib), Number(slowRate)]));
  } finally {
    clearInterval(sampler);
  }
  result.slow = slow;
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
