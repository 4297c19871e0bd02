// Starts the built daemon (serving web-demo/, which holds the built package in pkg/) and a real
// headless Chromium, for tests that use the package the way page code does.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = fileURLToPath(new URL("../../", import.meta.url));

const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
];

/**
 * Starts `bridge-daemon --listen 127.0.0.1:0 --unix` (as ./scripts/demo.sh runs it, Unix sockets
 * on), serving `webRoot` (the teaching pages unless told; `null`: the daemon's own choice), and
 * resolves to { ws, http, pages, token, stop }: `ws` and `http` are the plain addresses, `pages`
 * the teaching pages' address as the daemon prints it, with the token in its fragment. `binary`
 * and `cwd` run another build of the daemon, elsewhere (an installed one).
 */
export async function startDaemon(extraArgs = [], { webRoot = `${root}web-demo`, binary = `${root}target/debug/bridge-daemon`, cwd } = {}) {
  if (!existsSync(binary)) throw new Error(`${binary} is missing: cargo build -p bridge-daemon`);
  if (webRoot && !existsSync(`${root}web-demo/pkg/sockbridge.js`)) throw new Error("web-demo/pkg is missing: scripts/build-web.sh");
  const where = webRoot ? ["--web-root", webRoot] : [];
  const child = spawn(binary, ["--listen", "127.0.0.1:0", "--unix", ...where, ...extraArgs], {
    cwd,
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  const lines = createInterface({ input: child.stdout });
  const [first, second] = await new Promise((resolve, reject) => {
    const got = [];
    lines.on("line", (line) => {
      got.push(line);
      if (got.length === 2) resolve(got);
    });
    child.once("exit", (code) => reject(new Error(`bridge-daemon exited with ${code}`)));
  });
  const [ws, fragment] = first.split("#");
  const token = new URLSearchParams(fragment).get("sb-token");
  const pages = second.replace(/^teaching pages: /, "");
  const http = ws.replace(/^ws:/, "http:");
  const stop = () => new Promise((resolve) => {
    child.once("exit", resolve);
    child.kill("SIGTERM");
  });
  return { ws, http, pages, token, stop };
}

/** Launches headless Chromium. */
export async function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

/**
 * Opens the daemon's page at the address it printed, as a user does, so the page keeps the token;
 * console output is collected in page.logs.
 */
export async function openPage(browser, daemon, viewport) {
  const page = await browser.newPage(viewport ? { viewport } : {});
  page.logs = [];
  page.on("console", (m) => page.logs.push(m.text()));
  page.on("pageerror", (e) => page.logs.push(`pageerror: ${e.message}`));
  await page.goto(daemon.pages);
  // The page takes the token out of its address once its script has run (and remembers it once
  // the daemon has accepted it).
  await page.waitForFunction(() => !location.hash.includes("sb-token") && document.readyState === "complete");
  return page;
}
