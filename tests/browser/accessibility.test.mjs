// The pages for every student: an automated accessibility check (axe-core, WCAG 2.1 A and AA) of
// every page in both languages, a lesson used with the keyboard alone, and a lesson printed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { startDaemon, launchBrowser, openPage, root } from "./harness.mjs";
import { lessonData, runLesson } from "./lesson-runner.mjs";

const artifacts = `${root}tests/browser/artifacts`;
let daemon, browser, page, lessons;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  daemon = await startDaemon();
  browser = await launchBrowser();
  page = await openPage(browser, daemon, { width: 1366, height: 900 });
  ({ lessons } = await lessonData(page, daemon.http));
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
});

/** axe-core's WCAG 2.1 A and AA violations on the page as it is now, as "rule: element" lines. */
async function violations() {
  if (!(await page.evaluate(() => "axe" in window))) {
    await page.addScriptTag({ path: `${root}tests/browser/node_modules/axe-core/axe.min.js` });
  }
  const result = await page.evaluate(() => axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }));
  return result.violations.flatMap((v) => v.nodes.map((n) => `${v.impact} ${v.id}: ${n.target.join(" ")}`));
}

test("accessibility: no WCAG 2.1 A or AA violation on any page, in either language, at either size", async () => {
  const found = [];
  for (const lang of ["en", "zh"]) {
    for (const size of [{ width: 1366, height: 900 }, { width: 390, height: 844 }]) {
      await page.setViewportSize(size);
      const where = (name) => `${name} (${lang}, ${size.width}px)`;
      await page.goto(`${daemon.http}?lang=${lang}#/`);
      await page.waitForSelector(".home .card");
      found.push(...(await violations()).map((v) => `${where("home")} ${v}`));
      for (const id of [...lessons.map((l) => l.id), "playground"]) {
        await page.goto(`${daemon.http}?lang=${lang}#/${id === "playground" ? "playground" : `lesson/${id}`}`);
        await page.waitForSelector(`article[data-lesson="${id}"]`);
        found.push(...(await violations()).map((v) => `${where(id)} ${v}`));
      }
      // With the diagram, the table and the output filled in.
      await runLesson(page, daemon.http, lessons.find((l) => l.id === "server"), lang, "python");
      found.push(...(await violations()).map((v) => `${where("server, after a run")} ${v}`));
    }
  }
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.goto(`${daemon.http}protocol.html`);
  found.push(...(await violations()).map((v) => `protocol page ${v}`));
  assert.deepEqual(found, []);
});

/** What has the keyboard's focus: its tag, class and text. */
const focused = () => page.evaluate(() => {
  const e = document.activeElement;
  return { tag: e.tagName.toLowerCase(), cls: e.className, text: e.textContent.trim().slice(0, 40) };
});

/** Presses Tab until `want` has the focus (at most 60 times); returns how many presses it took. */
async function tabTo(want) {
  for (let presses = 1; presses <= 60; presses++) {
    await page.keyboard.press("Tab");
    if (want(await focused())) return presses;
  }
  assert.fail(`Tab never reached it; the focus is on ${JSON.stringify(await focused())}`);
}

test("keyboard: skip to the lesson, edit the code, leave the editor, run, and go on to the next lesson", async () => {
  const lesson = lessons.find((l) => l.id === "creating");
  await page.goto(`${daemon.http}?lang=en#/lesson/${lesson.id}`);
  await page.waitForSelector(`article[data-lesson="${lesson.id}"]`);
  await page.click('.languages [data-language="javascript"]');
  // As the page is when it opens (the page remembers the code's language).
  await page.reload();
  await page.waitForSelector(`article[data-lesson="${lesson.id}"]`);
  await page.waitForFunction(() => !document.body.contains(document.querySelector(".loading")));
  // The first Tab reaches the skip link, which takes the focus past the header and the lesson list.
  assert.equal(await tabTo((f) => true), 1);
  assert.match((await focused()).cls, /skip/);
  await page.keyboard.press("Enter");
  assert.equal((await focused()).tag, "main");
  await tabTo((f) => f.tag === "textarea");
  // Tab indents inside the editor; Escape, then Tab, leaves it.
  await page.keyboard.press("End");
  await page.keyboard.press("Enter");
  await page.keyboard.press("Tab");
  await page.keyboard.type('print("typed at the keyboard")');
  assert.equal((await focused()).tag, "textarea", "Tab indented, and the focus stayed");
  const code = await page.$eval("textarea.editor", (t) => t.value);
  assert.match(code, /\n {4}print\("typed at the keyboard"\)$/);
  await page.keyboard.press("Escape");
  await page.keyboard.press("Tab");
  assert.notEqual((await focused()).tag, "textarea", "Escape, then Tab, left the editor");
  // Shift+Tab goes back to the buttons before it: Run.
  for (let i = 0; i < 10 && !(await focused()).cls.includes("run"); i++) await page.keyboard.press("Shift+Tab");
  assert.match((await focused()).cls, /run/);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => ["done", "error"].includes(document.querySelector(".status").dataset.state));
  assert.match(await page.textContent("pre.output"), /typed at the keyboard/);
  // On to the next lesson, by its link at the end.
  await tabTo((f) => f.tag === "a" && f.text.includes("→"));
  await page.keyboard.press("Enter");
  const next = lessons[lessons.findIndex((l) => l.id === lesson.id) + 1];
  await page.waitForSelector(`article[data-lesson="${next.id}"]`);
});

test("print: a lesson prints as a handout, the code and the diagram whole, without navigation or buttons", async () => {
  await runLesson(page, daemon.http, lessons.find((l) => l.id === "server"), "en", "python");
  await page.emulateMedia({ media: "print" });
  try {
    const shown = await page.evaluate(() => {
      const visible = (selector) => [...document.querySelectorAll(selector)].some((e) => e.getClientRects().length > 0);
      const clipped = (e) => e.scrollHeight > e.clientHeight + 1;
      return {
        navigation: visible("nav.lessons") || visible("header.top") || visible(".toolbar button"),
        editorsClipped: [...document.querySelectorAll("textarea.editor")].filter(clipped).length,
        diagramClipped: clipped(document.querySelector(".diagram")),
        steps: document.querySelectorAll(".step").length,
      };
    });
    assert.deepEqual(shown, { navigation: false, editorsClipped: 0, diagramClipped: false, steps: shown.steps });
    assert.ok(shown.steps > 10, `${shown.steps} steps printed`);
    await page.screenshot({ path: `${artifacts}/print-lesson-server-en.png`, fullPage: true });
  } finally {
    await page.emulateMedia({ media: "screen" });
  }
});

test("phone: the lesson strip scrolls to the lesson that is open", async () => {
  const phone = await openPage(browser, daemon, { width: 390, height: 844 });
  try {
    const last = lessons.at(-1);
    await phone.goto(`${daemon.http}?lang=zh#/lesson/${last.id}`);
    await phone.waitForSelector(`article[data-lesson="${last.id}"]`);
    const seen = await phone.$eval("nav.lessons", (nav) => {
      const link = nav.querySelector("[aria-current]").getBoundingClientRect();
      const box = nav.getBoundingClientRect();
      return { scrolled: nav.scrollLeft > 0, inView: link.left >= box.left - 1 && link.right <= box.right + 1 };
    });
    assert.deepEqual(seen, { scrolled: true, inView: true });
  } finally {
    await phone.close();
  }
});
