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

/** Starts `bridge-daemon --listen 127.0.0.1:0` and resolves to { http, ws, stop }. */
export async function startDaemon() {
  const binary = `${root}target/debug/bridge-daemon`;
  if (!existsSync(binary)) throw new Error(`${binary} is missing: cargo build -p bridge-daemon`);
  if (!existsSync(`${root}web-demo/pkg/sockbridge.js`)) throw new Error("web-demo/pkg is missing: scripts/build-web.sh");
  const child = spawn(binary, ["--listen", "127.0.0.1:0", "--web-root", `${root}web-demo`], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  const lines = createInterface({ input: child.stdout });
  const ws = await new Promise((resolve, reject) => {
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`bridge-daemon exited with ${code}`)));
  });
  const http = ws.replace(/^ws:/, "http:");
  const stop = () => new Promise((resolve) => {
    child.once("exit", resolve);
    child.kill("SIGTERM");
  });
  return { ws, http, stop };
}

/** Launches headless Chromium. */
export async function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

/** Opens the daemon's page; console output is collected in page.logs. */
export async function openPage(browser, daemon, viewport) {
  const page = await browser.newPage(viewport ? { viewport } : {});
  page.logs = [];
  page.on("console", (m) => page.logs.push(m.text()));
  page.on("pageerror", (e) => page.logs.push(`pageerror: ${e.message}`));
  await page.goto(`${daemon.http}`);
  return page;
}
