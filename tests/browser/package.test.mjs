// The npm package as its users take it: the tarball scripts/build-web.sh packs, installed offline
// into a fresh project, then used three ways against a real daemon: from Node.js, from a Vite app
// built for production, and from a plain <script type="module"> page, each in headless Chromium
// where it is a page. Each runs a TCP echo (a server and a client of its own) and reports it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "vite";
import { root, startDaemon, launchBrowser } from "./harness.mjs";

const run = promisify(execFile);
let project, daemon, browser;

/** The echo every use runs: what a user's first program does. */
const ECHO = `
const server = await bridge.socket(AF_INET, SOCK_STREAM);
await server.bind(["127.0.0.1", 0]);
await server.listen(1);
const client = await bridge.socket(AF_INET, SOCK_STREAM);
await client.connect(await server.getsockname());
const [conn] = await server.accept();
await client.sendall(new TextEncoder().encode(MESSAGE));
await conn.sendall(await conn.recv(100));
const echoed = new TextDecoder().decode(await client.recv(100));
for (const s of [conn, client, server]) await s.close();
`;

/** A page that runs the echo with the package imported from `from`, and shows what came back. */
function page(from, message) {
  return `<!doctype html><meta charset="utf-8"><title>sockbridge package</title>
<script type="module">
import { Bridge, AF_INET, SOCK_STREAM, takePageToken } from "${from}";
const MESSAGE = ${JSON.stringify(message)};
try {
  takePageToken();
  const bridge = await Bridge.connect();
  ${ECHO}
  document.body.dataset.result = echoed;
} catch (e) {
  document.body.dataset.result = "error: " + e;
}
</script>`;
}

before(async () => {
  const version = (await readFile(join(root, "Cargo.toml"), "utf8")).match(/^version = "([^"]+)"/m)[1];
  const tarball = join(root, "target", "npm", `sockbridge-${version}.tgz`);
  project = await mkdtemp(join(tmpdir(), "sockbridge-package-"));
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  // Offline: the tarball is all there is, as for a user installing it from a file.
  await run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], { cwd: project });
  daemon = await startDaemon([], { webRoot: project });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
  if (project) await rm(project, { recursive: true, force: true });
});

test("npm package: installed from its tarball, it has the files and types its package.json names", async () => {
  const dir = join(project, "node_modules", "sockbridge");
  const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
  assert.equal(pkg.name, "sockbridge");
  assert.deepEqual(pkg.exports["."], { types: "./sockbridge.d.ts", node: "./node.js", default: "./sockbridge.js" });
  const files = await readdir(dir);
  for (const f of ["sockbridge.js", "node.js", "sockbridge.d.ts", "wasm_client_bg.wasm", "README.md", "LICENSE-MIT", "LICENSE-APACHE"]) {
    assert.ok(files.includes(f), `${f} is in the package`);
  }
});

test("npm package: Node.js imports it by name and runs an echo through the daemon", async () => {
  await writeFile(join(project, "echo.mjs"), `
import { Bridge, AF_INET, SOCK_STREAM } from "sockbridge";
const MESSAGE = "echo from node";
const bridge = await Bridge.connect(process.env.SOCKBRIDGE_URL);
${ECHO}
console.log(echoed);
bridge.close();
`);
  const env = { ...process.env, SOCKBRIDGE_URL: `${daemon.ws}#sb-token=${daemon.token}` };
  const flagged = await run(process.execPath, ["--experimental-websocket", "echo.mjs"], { cwd: project, env });
  assert.equal(flagged.stdout.trim(), "echo from node");
  const major = Number(process.versions.node.split(".")[0]);
  if (major >= 22) {
    // Node 22 and later have WebSocket without a flag.
    const plain = await run(process.execPath, ["echo.mjs"], { cwd: project, env });
    assert.equal(plain.stdout.trim(), "echo from node");
  } else {
    // Node 20 without the flag: the package says what is missing, rather than failing obscurely.
    const failed = await run(process.execPath, ["echo.mjs"], { cwd: project, env }).then(() => null, (e) => e);
    assert.ok(failed, "Node 20 without --experimental-websocket has no WebSocket");
    assert.match(failed.stderr, /--experimental-websocket/);
  }
});

test("npm package: a connect nobody answers fails after 30 s, saying so, and the script ends", async () => {
  // A server that takes the connection and never answers the handshake (a proxy out of
  // connections does that).
  const { createServer } = await import("node:net");
  const held = [];
  const silent = createServer((socket) => held.push(socket));
  await new Promise((resolve) => silent.listen(0, "127.0.0.1", resolve));
  await writeFile(join(project, "silent.mjs"), `import { Bridge } from "sockbridge";
try {
  await Bridge.connect(process.env.SOCKBRIDGE_URL);
  console.log("connected");
} catch (e) {
  console.log(e.name + ": " + e.message);
}
`);
  const env = { ...process.env, SOCKBRIDGE_URL: `ws://127.0.0.1:${silent.address().port}/` };
  try {
    const { stdout } = await run(process.execPath, ["--experimental-websocket", "silent.mjs"], { cwd: project, env, timeout: 60000 });
    assert.match(stdout.trim(), /^ConnectionError: .*did not answer within 30 s/);
  } finally {
    for (const socket of held) socket.destroy();
    silent.close();
  }
});

test("npm package: a Vite app built for production imports it and runs an echo in Chromium", async () => {
  const app = join(project, "vite-app");
  await mkdir(app);
  await writeFile(join(app, "index.html"), page("sockbridge", "echo from vite"));
  await build({
    root: app,
    base: "/dist/",
    logLevel: "warn",
    build: { outDir: join(project, "dist"), emptyOutDir: true, target: "esnext" },
  });
  const assets = await readdir(join(project, "dist", "assets"));
  assert.ok(assets.some((f) => f.endsWith(".wasm")), `Vite emitted the .wasm: ${assets}`);
  const tab = await browser.newPage();
  await tab.goto(`${daemon.http}/dist/index.html#sb-token=${daemon.token}`);
  await tab.waitForFunction(() => document.body?.dataset.result, null, { timeout: 30000 });
  assert.equal(await tab.evaluate(() => document.body.dataset.result), "echo from vite");
  await tab.close();
});

test("npm package: a plain <script type=\"module\"> page imports it from node_modules and runs an echo", async () => {
  await writeFile(join(project, "plain.html"), page("./node_modules/sockbridge/sockbridge.js", "echo from a plain page"));
  const tab = await browser.newPage();
  await tab.goto(`${daemon.http}/plain.html#sb-token=${daemon.token}`);
  await tab.waitForFunction(() => document.body?.dataset.result, null, { timeout: 30000 });
  assert.equal(await tab.evaluate(() => document.body.dataset.result), "echo from a plain page");
  await tab.close();
});

test("npm package: TypeScript finds its types by the package's name, for bundlers and for Node", async () => {
  await writeFile(join(project, "typed.ts"), `
import { Bridge, AF_INET, SOCK_DGRAM, type Address, type Socket } from "sockbridge";
const bridge: Bridge = await Bridge.connect("ws://127.0.0.1:7320/");
const s: Socket = await bridge.socket(AF_INET, SOCK_DGRAM);
const sent: number = await s.sendto(new Uint8Array([1]), ["127.0.0.1", 9]);
const where: Address = await s.getsockname();
// @ts-expect-error: a port is a number
await s.bind(["127.0.0.1", "80"]);
export { sent, where };
`);
  const tsc = join(root, "tests", "browser", "node_modules", ".bin", "tsc");
  for (const resolution of [["bundler", "esnext"], ["node16", "node16"]]) {
    const [moduleResolution, module] = resolution;
    const options = { compilerOptions: { strict: true, noEmit: true, target: "es2022", module, moduleResolution, skipLibCheck: false }, files: ["typed.ts"] };
    await writeFile(join(project, "tsconfig.json"), JSON.stringify(options));
    const result = await run(tsc, ["-p", project]).then((r) => r, (e) => e);
    assert.equal(result.code ?? 0, 0, `${moduleResolution}: ${result.stdout}${result.stderr}`);
  }
});
