// The security policy as a browser meets it: the handshake gate (origin, token), the token's trip
// through the page's address, and the default egress policy, in real Chromium against the built
// daemon. Case IDs refer to shared/security.md section 4.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { startDaemon, launchBrowser, openPage } from "./harness.mjs";

let daemon, browser, foreign, foreignUrl;

before(async () => {
  daemon = await startDaemon();
  browser = await launchBrowser();
  // Another web site on this computer: a page of a different origin.
  foreign = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<!doctype html><title>elsewhere</title><p>another site</p>");
  });
  await new Promise((resolve) => foreign.listen(0, "127.0.0.1", resolve));
  foreignUrl = `http://127.0.0.1:${foreign.address().port}/`;
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
  foreign?.close();
});

/** Whether a raw WebSocket from `page` to the daemon opens, offering `protocols`. */
function opens(page, ws, protocols) {
  return page.evaluate(([url, protocols]) => new Promise((resolve) => {
    const socket = new WebSocket(url, protocols);
    socket.onopen = () => { socket.close(); resolve(true); };
    socket.onclose = () => resolve(false);
  }), [ws, protocols]);
}

test("H1/H2: another site's page is refused, even holding the token; the daemon's own page is admitted", async () => {
  const withToken = ["sockbridge.v1", `sockbridge.token.${daemon.token}`];
  const elsewhere = await browser.newPage();
  await elsewhere.goto(foreignUrl);
  assert.equal(await opens(elsewhere, daemon.ws, withToken), false, "a foreign origin is refused");
  // Nor can it load the package: the daemon sends no CORS headers.
  const imported = await elsewhere.evaluate((url) => import(url).then(() => "loaded", (e) => e.name), `${daemon.http}pkg/sockbridge.js`);
  assert.equal(imported, "TypeError");
  await elsewhere.close();

  const own = await browser.newPage();
  await own.goto(daemon.http);
  assert.equal(await opens(own, daemon.ws, withToken), true, "the daemon's own page with the token");
  await own.close();
});

test("H7/H10: the daemon's own page without the token, or with a wrong one, is not admitted and says how to get in", async () => {
  const page = await browser.newPage(); // a fresh context: nothing remembered
  await page.goto(daemon.http);
  assert.equal(await opens(page, daemon.ws, ["sockbridge.v1"]), false, "no token");
  const wrong = daemon.token.slice(0, -1) + (daemon.token.endsWith("A") ? "B" : "A");
  assert.equal(await opens(page, daemon.ws, ["sockbridge.v1", `sockbridge.token.${wrong}`]), false, "last byte wrong");
  await page.goto(`${daemon.http}?lang=en#/playground`);
  await page.waitForSelector("button.run");
  await page.click("button.run");
  await page.waitForFunction(() => document.querySelector(".status").dataset.state === "error");
  assert.match(await page.textContent("pre.output"), /open the address it prints/);
  await page.close();
});

test("the token moves from the address bar into the page's storage once accepted, and the lessons work", async () => {
  const page = await openPage(browser, daemon);
  assert.equal(new URL(page.url()).hash, "", "no token left in the address");
  await page.goto(`${daemon.http}?lang=en#/playground`);
  await page.click("button.run");
  await page.waitForFunction(() => document.querySelector(".status").dataset.state === "done");
  assert.equal(await page.evaluate(() => localStorage.getItem("sockbridge.token")), daemon.token);
  // A lesson link keeps working with the remembered token; a hash route keeps its place when the
  // token comes with it.
  await page.goto(`${daemon.http}?lang=en#/lesson/naming&sb-token=${daemon.token}`);
  await page.waitForSelector('article[data-lesson="naming"]');
  assert.equal(new URL(page.url()).hash, "#/lesson/naming");
  await page.click("button.run");
  await page.waitForFunction(() => document.querySelector(".status").dataset.state === "done");
  await page.close();
});

test("E1/E2: by default a page reaches its own listener, not another program on this computer", async () => {
  let connections = 0;
  const native = createTcpServer((socket) => { connections += 1; socket.destroy(); });
  await new Promise((resolve) => native.listen(0, "127.0.0.1", resolve));
  const port = native.address().port;
  const page = await openPage(browser, daemon);
  const got = await page.evaluate(async (port) => {
    const sb = await import("/pkg/sockbridge.js");
    const bridge = await sb.Bridge.connect();
    const server = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM);
    await server.bind(["127.0.0.1", 0]);
    await server.listen(1);
    const own = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM);
    await own.connect(await server.getsockname());
    const other = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM);
    try {
      await other.connect(["127.0.0.1", port]);
      return { refused: false };
    } catch (e) {
      return { refused: true, name: e.name, code: e.code, errno: e.errno, reason: e.reason, isOSError: sb.isOSError(e) };
    } finally {
      bridge.close();
    }
  }, port);
  assert.deepEqual(
    { ...got, reason: undefined },
    { refused: true, name: "PermissionError", code: "EACCES", errno: 13, reason: undefined, isOSError: true },
  );
  assert.match(got.reason, /own sockets/);
  // Give a stray SYN every chance to arrive: a round trip through the daemon on a new session.
  await page.evaluate(async () => {
    const sb = await import("/pkg/sockbridge.js");
    (await sb.Bridge.connect()).close();
  });
  assert.equal(connections, 0, "the refused connect sent nothing");
  native.close();
  await page.close();
});

test("a wrong token in the address never replaces the remembered one, and no other site can frame the pages", async () => {
  const page = await openPage(browser, daemon);
  await page.goto(`${daemon.http}?lang=en#/playground`);
  await page.click("button.run");
  await page.waitForFunction(() => document.querySelector(".status").dataset.state === "done");
  // A link (or a frame) made by someone else, carrying a token of their choosing.
  await page.goto(`${daemon.http}?lang=en#/playground&sb-token=${"A".repeat(43)}`);
  await page.waitForFunction(() => !location.hash.includes("sb-token"));
  // The wrong token costs one refused try; the remembered one then opens the session.
  await page.click("button.run");
  await page.waitForFunction(() => document.querySelector(".status").dataset.state === "done");
  assert.equal(await page.evaluate(() => localStorage.getItem("sockbridge.token")), daemon.token, "kept");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("sockbridge.pending-token")), null, "forgotten");
  // A foreign page that frames the daemon's page gets nothing: the frame is blocked.
  const framer = await browser.newPage();
  await framer.goto(foreignUrl);
  await framer.evaluate((url) => new Promise((resolve) => {
    const frame = document.createElement("iframe");
    frame.src = url;
    frame.onload = resolve;
    document.body.append(frame);
  }), `${daemon.http}#sb-token=${"B".repeat(43)}`);
  const child = framer.frames().find((f) => f !== framer.mainFrame());
  assert.ok(child, "the frame exists");
  assert.ok(child.url().startsWith("chrome-error:"), `the daemon's page was not shown in the frame: ${child.url()}`);
  assert.equal(await page.evaluate(() => localStorage.getItem("sockbridge.token")), daemon.token, "still kept");
  await framer.close();
  await page.close();
});
