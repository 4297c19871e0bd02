// The lessons with a private network (bridge-daemon --network private, as ./scripts/demo.sh runs
// it): every lesson runs in Python and JavaScript on hosts of the page's own; lesson 1 puts its
// server and client on two computers; the diagram draws the packets the kernels sent, between the
// calls that caused them; the socket table shows the kernel's TIME_WAIT. Screenshots of lesson 1 at
// desktop and phone sizes, in both languages, go to tests/browser/artifacts/.
//
// Private networks need root (CI runs as root). Without it the daemon shares the loopback and says
// why, and these tests check exactly that instead.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { startDaemon, launchBrowser, openPage, root } from "./harness.mjs";
import { checkLesson, runLesson } from "./lesson-runner.mjs";

const artifacts = `${root}tests/browser/artifacts`;
const isRoot = process.getuid?.() === 0;
let daemon, browser, page, lessons, printedZh, network;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  daemon = await startDaemon(["--network", "private"]);
  browser = await launchBrowser();
  page = await openPage(browser, daemon, { width: 1366, height: 900 });
  await page.goto(`${daemon.http}?lang=en#/`);
  await page.waitForFunction(() => window.sockbridgeLessons);
  network = await page.evaluate(() => window.sockbridgeLessons.NETWORK);
  lessons = await page.evaluate(() => {
    // Each lesson as the page runs it: its private-network form where the page has a network.
    const { LESSONS, PLAYGROUND, variant } = window.sockbridgeLessons;
    return [...LESSONS, PLAYGROUND].map(variant).map((l) => ({ id: l.id, title: l.title, check: l.check }));
  });
  printedZh = await page.evaluate(() => window.sockbridgeLessons.PRINTED_ZH);
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
});

test("private network: the page knows its network: private as root, else shared with the reason", () => {
  if (isRoot) {
    assert.equal(network.mode, "private", JSON.stringify(network));
    assert.deepEqual(network.hosts.map((h) => h.name), ["pc1", "lab"]);
  } else {
    assert.equal(network.mode, "shared");
    assert.match(network.why, /namespaces/);
  }
});

for (const code of ["python", "javascript"]) {
  test(`private network: every lesson runs its ${code}`, { skip: !isRoot && "needs root: see the test above" }, async () => {
    for (const lesson of lessons) {
      const shown = await runLesson(page, daemon.http, lesson, "en", code);
      checkLesson(lesson, "en", code, shown, printedZh);
    }
  });
}

test("private network: lesson 1 has two computers, and the handshake drawn between connect and its return", { skip: !isRoot && "needs root" }, async () => {
  const lesson = lessons.find((l) => l.id === "naming");
  const shown = await runLesson(page, daemon.http, lesson, "en", "python");
  checkLesson(lesson, "en", "python", shown, printedZh);
  assert.deepEqual(Object.keys(shown.programs), ["server.py", "client.py"]);
  const hosts = await page.$$eval(".program-head .host", (tags) => tags.map((t) => t.textContent));
  assert.deepEqual(hosts, ["runs on pc1", "runs on pc2"]);
  // In the diagram, top to bottom: connect(...), SYN, SYN-ACK, ACK, then connect's return.
  const rows = await page.$$eval(".diagram .step", (steps) => steps.map((s) => s.dataset.call ? `call ${s.dataset.call}`
    : s.dataset.ret ? `return ${s.dataset.ret}` : s.dataset.packet ? `packet ${s.dataset.packet}` : "other"));
  const connect = rows.indexOf("call connect");
  const returned = rows.indexOf("return connect");
  assert.ok(connect >= 0 && returned > connect, rows.join("\n"));
  assert.deepEqual(rows.slice(connect + 1, returned).filter((r) => r.startsWith("packet")),
    ["packet SYN", "packet SYN, ACK", "packet ACK"], rows.join("\n"));
  // The packet rows name both computers and use relative sequence numbers, as Wireshark does.
  const syn = await page.$eval('.step.packet[data-packet="SYN"] .label', (l) => l.textContent);
  assert.equal(syn, "pc2 → pc1: TCP [SYN] seq=0");
  // Both sides closed: the kernel holds the connection in TIME_WAIT, with no fd, and says so.
  assert.ok(shown.kernelOnly.includes("TIME_WAIT"), shown.kernelOnly.join(", "));
  // No guessed wire arrows in this mode: every arrow on the network lane is a captured packet.
  assert.equal(shown.wires, 0);
});

test("private network: lesson 1 at desktop and phone sizes, in both languages (screenshots)", { skip: !isRoot && "needs root" }, async () => {
  for (const lang of ["en", "zh"]) {
    for (const [size, viewport] of [["desktop", { width: 1366, height: 900 }], ["phone", { width: 390, height: 844 }]]) {
      const tab = await openPage(browser, daemon, viewport);
      await tab.goto(`${daemon.http}?lang=${lang}#/lesson/naming`);
      await tab.waitForSelector('article[data-lesson="naming"]');
      await tab.waitForSelector("html[data-python=ready]", { timeout: 60000 });
      await tab.click("button.run");
      await tab.waitForFunction(() => document.querySelector(".status").dataset.state === "done", null, { timeout: 60000 });
      await tab.waitForSelector('.step.packet[data-packet="FIN, ACK"]');
      assert.equal(await tab.locator(".program-head .host").count(), 2);
      await tab.screenshot({ path: `${artifacts}/network-naming-${lang}-${size}.png`, fullPage: true });
      await tab.close();
    }
  }
});
