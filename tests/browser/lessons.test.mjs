// Every lesson in real Chromium: run its code, check its output, the live diagram and the socket
// table, switch language, and save a screenshot of each (tests/browser/artifacts/, for people to
// look at).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { startDaemon, launchBrowser, openPage, root } from "./harness.mjs";

const artifacts = `${root}tests/browser/artifacts`;
let daemon, browser, page, lessons;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  daemon = await startDaemon();
  browser = await launchBrowser();
  page = await openPage(browser, daemon, { width: 1400, height: 1000 });
  await page.goto(`${daemon.http}?lang=en#/`);
  await page.waitForFunction(() => window.sockbridgeLessons);
  lessons = await page.evaluate(() => {
    const { LESSONS, PLAYGROUND } = window.sockbridgeLessons;
    return [...LESSONS, PLAYGROUND].map((l) => ({ id: l.id, title: l.title, check: l.check }));
  });
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
});

/** Opens a lesson in a language, runs it, and returns what the page shows. */
async function runLesson(lesson, lang) {
  const path = lesson.id === "playground" ? "#/playground" : `#/lesson/${lesson.id}`;
  await page.goto(`${daemon.http}?lang=${lang}${path}`);
  await page.waitForSelector(`article[data-lesson="${lesson.id}"]`);
  await page.click("button.run");
  await page.waitForFunction(() => ["done", "error"].includes(document.querySelector(".status").dataset.state), null, {
    timeout: 30000,
  });
  return page.evaluate(() => ({
    state: document.querySelector(".status").dataset.state,
    title: document.querySelector("main h1").textContent,
    output: document.querySelector("pre.output").textContent.split("\n").filter(Boolean),
    calls: [...document.querySelectorAll(".step[data-call]")].map((r) => r.dataset.call),
    returns: [...document.querySelectorAll(".step[data-ret]")].map((r) => r.dataset.ret),
    wires: document.querySelectorAll(".step.wire").length,
    pending: document.querySelectorAll(".step.pending").length,
    rows: [...document.querySelectorAll("table.sockets tbody tr[data-fd]")].map((r) => r.dataset.fd),
  }));
}

test("the home page lists every lesson, in both languages", async () => {
  await page.goto(`${daemon.http}?lang=zh#/`);
  await page.waitForSelector(".home .card");
  assert.equal(await page.textContent("main h1"), "课程");
  assert.equal(await page.locator(".home .card").count(), lessons.length);
  await page.click('.lang button[data-lang="en"]');
  assert.equal(await page.textContent("main h1"), "Lessons");
  assert.equal(await page.locator("nav.lessons a").count(), lessons.length + 1); // and the protocol page
});

for (const lang of ["en", "zh"]) {
  test(`every lesson runs and shows its calls (${lang})`, async () => {
    assert.ok(lessons.length >= 12, `${lessons.length} lessons`);
    for (const lesson of lessons) {
      const shown = await runLesson(lesson, lang);
      const label = `${lesson.id} (${lang})`;
      assert.equal(shown.state, "done", `${label} ended in ${shown.state}: ${shown.output.join(" | ")}`);
      if (lesson.id !== "playground") assert.ok(shown.title.endsWith(lesson.title[lang]), `${label} title: ${shown.title}`);
      for (const pattern of lesson.check.output) {
        const re = new RegExp(pattern);
        assert.ok(shown.output.some((line) => re.test(line)), `${label}: no output line matches ${re}\n${shown.output.join("\n")}`);
      }
      for (const method of lesson.check.calls) {
        assert.ok(shown.calls.includes(method), `${label}: the diagram shows no ${method} call`);
        assert.ok(shown.returns.includes(method), `${label}: the diagram shows no ${method} return`);
      }
      assert.equal(shown.calls.length, shown.returns.length, `${label}: every call returned`);
      assert.equal(shown.pending, 0, `${label}: nothing left pending`);
      assert.ok(shown.rows.length >= lesson.check.sockets, `${label}: ${shown.rows.length} rows in the socket table`);
      await page.screenshot({ path: `${artifacts}/lesson-${lesson.id}-${lang}.png`, fullPage: true });
    }
  });
}

test("the diagram draws a refused connection and names constants as the code does", async () => {
  await runLesson(lessons.find((l) => l.id === "client"), "en");
  const labels = await page.$$eval(".step .label", (ls) => ls.map((l) => l.textContent));
  assert.ok(labels.some((l) => l.includes("RST") && l.includes("refused")), labels.join(" | "));
  assert.ok(labels.some((l) => l.includes("ConnectionRefusedError (111)")), labels.join(" | "));
  assert.ok(labels.some((l) => l.includes("socket(AF_INET, SOCK_STREAM)")), labels.join(" | "));
  await runLesson(lessons.find((l) => l.id === "reuseaddr"), "en");
  const more = await page.$$eval(".step .label", (ls) => ls.map((l) => l.textContent));
  assert.ok(more.some((l) => l.includes("setsockopt(SOL_SOCKET, SO_REUSEADDR, True)")), more.join(" | "));
  assert.ok(more.some((l) => l.includes("OSError (98)")), more.join(" | "));
});

test("the socket table follows the sockets' states", async () => {
  await runLesson(lessons.find((l) => l.id === "naming"), "en");
  const rows = await page.$$eval("table.sockets tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  // fd, family, type, state, local, remote, timeout, note
  const byFd = Object.fromEntries(rows.map((r) => [r[0], r]));
  assert.equal(byFd["3"][3], "listening");
  assert.match(byFd["3"][4], /^127\.0\.0\.1:\d+$/);
  assert.equal(byFd["4"][3], "connected");
  assert.equal(byFd["5"][7], "accepted by fd 3");
});

test("edited code runs, errors show as Python shows them, and Stop ends a waiting call", async () => {
  await page.goto(`${daemon.http}?lang=en#/playground`);
  await page.waitForSelector("textarea.editor");
  await page.fill("textarea.editor", `const s = await bridge.socket(AF_INET, SOCK_STREAM);\nprint("fd", s.fileno());\nawait s.recv(10);`);
  await page.click("button.run");
  await page.waitForFunction(() => document.querySelector(".status").dataset.state !== "running");
  assert.equal(await page.$eval(".status", (s) => s.dataset.state), "error");
  assert.deepEqual((await page.textContent("pre.output")).trim().split("\n"), ["fd 3", "OSError: [Errno 107] Transport endpoint is not connected"]);

  await page.fill("textarea.editor", `const u = await bridge.socket(AF_INET, SOCK_DGRAM);\nawait u.bind(["127.0.0.1", 0]);\nprint("waiting");\nawait u.recv(10);`);
  await page.click("button.run");
  await page.waitForSelector(".step.pending");
  await page.click("button.stop");
  await page.waitForFunction(() => document.querySelector(".status").dataset.state === "stopped");
  await page.click("button.reset");
  assert.match(await page.inputValue("textarea.editor"), /bridge\.select/);
});

test("a narrow window gets one column", async () => {
  const narrow = await openPage(browser, daemon, { width: 420, height: 900 });
  await narrow.goto(`${daemon.http}?lang=zh#/lesson/server`);
  await narrow.waitForSelector("button.run");
  await narrow.click("button.run");
  await narrow.waitForFunction(() => document.querySelector(".status").dataset.state === "done");
  const [code, live] = await narrow.$$eval(".workbench > section", (s) => s.map((e) => e.getBoundingClientRect().x));
  assert.equal(code, live, "the live view sits under the code");
  assert.ok(await narrow.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), "no sideways scrolling");
  await narrow.screenshot({ path: `${artifacts}/narrow-server-zh.png`, fullPage: true });
  await narrow.close();
});
