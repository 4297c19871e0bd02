// The wasm client in headless Chromium, on the benchmark's work: started by sockbridge-bench with
// the daemon's page address and the peers' addresses; prints one JSON line of results.
//
//   node bench/browser.mjs PAGES_URL SINK SOURCE ECHO MIB ECHOES
//
// Times come from performance.now(), which a page that is not cross-origin isolated sees in
// steps of 100 µs: so the RTT is reported as a mean over many echoes, not percentiles.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const require = createRequire(`${root}tests/browser/package.json`);
const { chromium } = require("playwright-core");

const [pages, sink, source, echo, mib, echoes] = process.argv.slice(2);
const addr = (s) => { const i = s.lastIndexOf(":"); return [s.slice(0, i), Number(s.slice(i + 1))]; };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  await page.goto(pages);
  await page.waitForFunction(() => !location.hash.includes("sb-token") && localStorage.getItem("sockbridge.token"));
  const result = await page.evaluate(async ([sink, source, echo, mib, echoes]) => {
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
      t = performance.now();
      for (let i = 0; i < echoes; i++) {
        await s.send(msg);
        let n = 0;
        while (n < 64) n += (await s.recv(64 - n)).length;
      }
      const rtt = (performance.now() - t) * 1e3 / echoes;
      await s.close();
      bridge.close();
      out[codec] = { up, down, rtt };
    }
    return out;
  }, [addr(sink), addr(source), addr(echo), Number(mib), Number(echoes)]);
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
