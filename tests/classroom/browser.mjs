// The class docs/classroom.md set up, as its students meet it: headless Chromium opens the lessons
// at https://class.example.org/ (nginx, TLS with the guide's self-signed certificate, trusted by its
// key alone) with each student's join link, and the sessions go over wss:// to one of two daemons.
// Run by tests/classroom/inside.sh, in the namespaces the guide's set-up ran in.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { checkLesson, runLesson } from "../browser/lesson-runner.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const require = createRequire(`${root}tests/browser/package.json`);
const { chromium } = require("playwright-core");
const site = "https://class.example.org/";
const links = Object.fromEntries(readFileSync("/var/lib/sockbridge/class-links.txt", "utf8").trim().split("\n")
  .map((line) => line.split(" ")));
const artifacts = `${root}tests/browser/artifacts`;
let browser;

/** The certificate's public key as Chromium names it (base64 of the SHA-256 of its DER form). */
function spki() {
  const key = execFileSync("openssl", ["x509", "-in", "/etc/sockbridge/cert.pem", "-pubkey", "-noout"]);
  const der = execFileSync("openssl", ["pkey", "-pubin", "-outform", "der"], { input: key });
  return execFileSync("openssl", ["dgst", "-sha256", "-binary"], { input: der }).toString("base64");
}

/** A daemon's metric (a sample line's name and labels), from its metrics address. */
function metric(port, sample) {
  const text = execFileSync("curl", ["-s", `http://127.0.0.1:${port}/metrics`]).toString();
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

/** A student's browser: its own profile, opened at their link (the page keeps the link). */
async function student(name) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  await page.goto(links[name]);
  await page.waitForFunction(() => !location.hash.includes("sb-token") && document.readyState === "complete");
  return page;
}

/** Opens a session from `page` (as a lesson does) and keeps it in `window.sessions`. */
async function connect(page) {
  return page.evaluate(async () => {
    const sb = await import("/pkg/sockbridge.js");
    try {
      const bridge = await sb.Bridge.connect();
      (window.sessions ??= []).push(bridge);
      return { ok: true, host: await bridge.gethostname(), mode: bridge.hello.network.mode };
    } catch (e) {
      return { ok: false, error: String(e) };
    }
  });
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
      `--ignore-certificate-errors-spki-list=${spki()}`],
  });
});

after(async () => {
  await browser?.close();
});

test("classroom: a student's link opens the lessons over https and wss, and lesson 4 runs in Python", async () => {
  const page = await student("alice");
  assert.equal(await page.evaluate(() => location.origin), "https://class.example.org");
  await page.goto(`${site}?lang=en#/`);
  await page.waitForFunction(() => window.sockbridgeLessons);
  const { lesson, printedZh } = await page.evaluate(() => {
    const { LESSONS, variant, PRINTED_ZH } = window.sockbridgeLessons;
    const l = variant(LESSONS.find((x) => x.id === "server"));
    return { lesson: { id: l.id, title: l.title, check: l.check }, printedZh: PRINTED_ZH };
  });
  const sockets = [];
  page.on("websocket", (ws) => sockets.push(ws.url()));
  const shown = await runLesson(page, site, lesson, "en", "python");
  checkLesson(lesson, "en", "python", shown, printedZh);
  assert.ok(sockets.length > 0 && sockets.every((url) => url === "wss://class.example.org/"), sockets.join(" "));
  assert.equal(await page.evaluate(() => window.sockbridgeLessons.NETWORK.mode), "private");
  await page.screenshot({ path: `${artifacts}/classroom-lesson-server.png`, fullPage: true });
  await page.context().close();
});

test("classroom: a browser with no link, or a made-up one, gets no session", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(site);
  const none = await connect(page);
  assert.equal(none.ok, false, "no link");
  assert.match(none.error, /ConnectionError/);
  await page.goto(`${site}#sb-token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`);
  const madeUp = await connect(page);
  assert.equal(madeUp.ok, false, "a made-up link");
  await context.close();
});

test("classroom: two students both bind port 8080, each on computers of their own", async () => {
  const pages = [await student("alice"), await student("carol")];
  const bound = await Promise.all(pages.map((page) => page.evaluate(async () => {
    const sb = await import("/pkg/sockbridge.js");
    const bridge = await sb.Bridge.connect();
    const s = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM);
    await s.bind(["", 8080]);
    await s.listen(5);
    window.kept = [bridge, s];
    return [bridge.hello.network.mode, await s.getsockname()];
  })));
  assert.deepEqual(bound, [["private", ["0.0.0.0", 8080]], ["private", ["0.0.0.0", 8080]]]);
  for (const page of pages) await page.context().close();
});

test("classroom: a student's two tabs land on one daemon", async () => {
  const first = await student("alice");
  assert.equal((await connect(first)).ok, true);
  // The second tab has no link in its address: the browser remembered it for the site.
  const second = await first.context().newPage();
  await second.goto(site);
  assert.equal((await connect(second)).ok, true);
  const on = [9321, 9322].map((port) => metric(port, 'sockbridge_identity_sessions{identity="join:alice"}'));
  assert.ok(Math.min(...on) === 0 && Math.max(...on) >= 2, `alice's sessions by daemon: ${on}`);
  await first.context().close();
});

test("classroom: a revoked link stops working", async () => {
  const page = await student("bob");
  assert.equal((await connect(page)).ok, true, "bob's link works");
  execFileSync("bridge-daemon", ["join", "revoke", "--join-links", "/var/lib/sockbridge/links.json", "bob"]);
  // His open session is closed (within the daemons' 2 s recheck), and a new one is refused.
  await page.waitForFunction(async () => {
    try {
      await window.sessions[0].gethostname();
      return false;
    } catch {
      return true;
    }
  }, null, { timeout: 20000, polling: 200 });
  assert.equal((await connect(page)).ok, false, "bob's link is refused once revoked");
  await page.context().close();
});

test("classroom: a daemon told to stop drains, and the next session goes to the other", async () => {
  const page = await student("carol");
  assert.equal((await connect(page)).ok, true);
  const carol = 'sockbridge_identity_sessions{identity="join:carol"}';
  // (Her sessions of the earlier test may still be closing: where she has any is her daemon.)
  const [port, other] = metric(9321, carol) > 0 ? [9321, 9322] : [9322, 9321];
  const config = port === 9321 ? "/etc/sockbridge/a.toml" : "/etc/sockbridge/b.toml";
  execFileSync("pkill", ["-TERM", "-f", `bridge-daemon --config ${config}`]);
  const health = () => execFileSync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", `http://127.0.0.1:${port}/healthz`]).toString();
  for (let i = 0; i < 100 && health() !== "503"; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(health(), "503", "the stopping daemon's health says it is draining");
  // Carol's open session goes on while it drains; a new tab of hers reaches the other daemon.
  assert.equal(await page.evaluate(() => window.sessions[0].gethostname()), "pc1");
  assert.equal((await connect(page)).ok, true, "a new session while one daemon drains");
  assert.ok(metric(other, carol) >= 1, "the new session is on the other daemon");
  await page.context().close();
});
