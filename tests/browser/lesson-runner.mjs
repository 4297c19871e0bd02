// Runs a lesson in a page as a student would (open it, pick the code's language, Run, wait for
// its programs to end, Stop a server that runs for ever) and checks what it showed against the
// lesson's `check`: shared by the lesson tests in each network mode.
import assert from "node:assert/strict";
import { createServer } from "node:net";

/** A free port on loopback, picked by the kernel (a server bound to port 0, then closed). */
export function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * What the page at `http` says of its lessons: each lesson's id, title and check, the
 * playground's, and the Chinese words its programs print (for `checkLesson`).
 */
export async function lessonData(page, http) {
  await page.goto(`${http}?lang=en#/`);
  await page.waitForFunction(() => window.sockbridgeLessons);
  return page.evaluate(() => {
    const { LESSONS, PLAYGROUND, PRINTED_ZH } = window.sockbridgeLessons;
    const brief = (l) => ({ id: l.id, title: l.title, check: l.check });
    return { lessons: LESSONS.map(brief), playground: brief(PLAYGROUND), printedZh: PRINTED_ZH };
  });
}

/**
 * Lesson 4's programs use the tutorial's fixed port (50007); a test gives them a free one instead,
 * so it never meets another program's port.
 */
export async function withFreePort(tab) {
  const port = String(await freePort());
  for (const editor of await tab.$$(".program textarea.editor")) {
    const code = await editor.inputValue();
    if (code.includes("50007")) await editor.fill(code.replaceAll("50007", port));
  }
  return port;
}

/**
 * Opens a lesson in a page language (`lang`) and a code language (`code`: "python" or
 * "javascript"), runs it (after `edit(page)`, if given, changes its code), and returns what the
 * page shows. A program that runs until it is stopped
 * (the tutorial's `while True` server) is checked to be waiting, then stopped, once the others end.
 */
export async function runLesson(page, http, lesson, lang, code, { edit } = {}) {
  const path = lesson.id === "playground" ? "#/playground" : `#/lesson/${lesson.id}`;
  const here = await page.evaluate(() => location.search);
  if (here === `?lang=${lang}`) await page.evaluate((p) => { location.hash = p; }, path);
  else await page.goto(`${http}?lang=${lang}${path}`);
  await page.waitForSelector(`article[data-lesson="${lesson.id}"]`);
  await page.click(`.languages [data-language="${code}"]`);
  await page.waitForSelector(`.languages [data-language="${code}"][aria-selected="true"]`);
  // The lesson's own code, not what an earlier run of it kept (the page keeps edits).
  await page.click("button.reset");
  await withFreePort(page);
  // A test's change to the lesson's code, as a student would make it.
  if (edit) await edit(page);
  await page.click("button.run");
  const ended = (state) => ["done", "error", "stopped"].includes(state);
  await page.waitForFunction(() => {
    const slots = [...document.querySelectorAll(".program")];
    if (slots.length === 1) return ["done", "error", "stopped"].includes(document.querySelector(".status").dataset.state);
    return slots.every((s) => "forever" in s.dataset
      ? s.querySelector(".program-status").dataset.state === "waiting"
      : ["done", "error", "stopped"].includes(s.querySelector(".program-status").dataset.state));
  }, null, { timeout: 60000 });
  const forever = await page.$$eval(".program[data-forever]", (ps) => ps.map((p) => p.dataset.name));
  for (const name of forever) await page.click(`.program[data-name="${name}"] button.stop-one`);
  await page.waitForFunction(() => ["done", "error", "stopped"].includes(document.querySelector(".status").dataset.state));
  // A socket a program left open is closed when Python collects it, which may be just after the
  // program ends: its close is drawn a moment later. Its return is waited for (a bounded wait; a
  // call that never returns is still caught below, as pending).
  await page.waitForFunction(() => document.querySelectorAll(".step.pending").length === 0, null, { timeout: 10000 })
    .catch(() => {});
  const shown = await page.evaluate(() => ({
    state: document.querySelector(".status").dataset.state,
    title: document.querySelector("main h1").textContent,
    programs: Object.fromEntries([...document.querySelectorAll(".program")].map((p) => [p.dataset.name, {
      state: p.querySelector(".program-status")?.dataset.state,
      output: p.querySelector("pre.output").textContent.split("\n").filter(Boolean),
    }])),
    calls: [...document.querySelectorAll(".step[data-call]")].map((r) => r.dataset.call),
    returns: [...document.querySelectorAll(".step[data-ret]")].map((r) => r.dataset.ret),
    wires: document.querySelectorAll(".step.wire").length,
    pending: document.querySelectorAll(".step.pending").length,
    rows: [...document.querySelectorAll("table.sockets tbody tr[data-fd]")].map((r) => r.dataset.fd),
    // With a private network: the packets drawn, in order, and the kernel-only rows of the table.
    packets: [...document.querySelectorAll(".step.packet")].map((r) => r.dataset.packet),
    kernelOnly: [...document.querySelectorAll("table.sockets tr.kernel-only")].map((r) => r.dataset.state),
  }));
  shown.output = Object.values(shown.programs).flatMap((p) => p.output);
  shown.forever = forever;
  assert.ok(Object.values(shown.programs).every((p) => !p.state || ended(p.state)));
  return shown;
}

/**
 * A Chinese page's output in the lessons' English words, so the same checks apply: the longest
 * Chinese words first (one may hold another).
 */
function inEnglish(line, printedZh) {
  const words = Object.entries(printedZh).sort(([, a], [, b]) => b.length - a.length);
  return words.reduce((text, [en, zh]) => text.replaceAll(zh, en), line);
}

/** Checks what a lesson showed against its `check` (with `check.python` for its Python). */
export function checkLesson(lesson, lang, code, shown, printedZh) {
  if (lang === "zh") {
    // The programs print Chinese words there.
    const words = Object.values(printedZh);
    const chinese = shown.output.some((line) => words.some((w) => line.includes(w)));
    assert.ok(chinese, `${lesson.id} (zh, ${code}) prints no Chinese words:\n${shown.output.join("\n")}`);
    shown = { ...shown, output: shown.output.map((l) => inEnglish(l, printedZh)),
      programs: Object.fromEntries(Object.entries(shown.programs).map(([k, p]) => [k, { ...p, output: p.output.map((l) => inEnglish(l, printedZh)) }])) };
  }
  const label = `${lesson.id} (${lang}, ${code})`;
  const check = code === "python" ? { ...lesson.check, ...lesson.check.python } : lesson.check;
  if (lesson.id !== "playground") assert.ok(shown.title.endsWith(lesson.title[lang]), `${label} title: ${shown.title}`);
  const expect = (patterns, lines, where) => {
    for (const pattern of patterns) {
      const re = new RegExp(pattern);
      assert.ok(lines.some((line) => re.test(line)), `${label}: no line of ${where} matches ${re}\n${lines.join("\n")}`);
    }
  };
  if (check.programs) {
    assert.deepEqual(Object.keys(shown.programs).sort(), Object.keys(check.programs).sort(), `${label}: its programs`);
    for (const [name, patterns] of Object.entries(check.programs)) {
      const program = shown.programs[name];
      expect(patterns, program.output, name);
      if (shown.forever.includes(name)) {
        // Stopped while it waited in accept, as Ctrl-C stops it: KeyboardInterrupt.
        assert.equal(program.state, "stopped", `${label}: ${name} stopped`);
        // Its last line as Python printed it (a Chinese page explains it on a line of its own, "↳ ...").
        const printed = program.output.filter((line) => !line.startsWith("↳ "));
        assert.match(printed.at(-1), /^KeyboardInterrupt/, `${label}: ${name}'s last line`);
      } else {
        assert.equal(program.state, "done", `${label}: ${name} ended in ${program.state}: ${program.output.join(" | ")}`);
      }
    }
    assert.equal(shown.state, shown.forever.length ? "stopped" : "done", `${label}: the lesson's state`);
  } else {
    assert.equal(shown.state, "done", `${label} ended in ${shown.state}: ${shown.output.join(" | ")}`);
    expect(check.output, shown.output, "the output");
  }
  for (const method of check.calls) {
    assert.ok(shown.calls.includes(method), `${label}: the diagram shows no ${method} call`);
    assert.ok(shown.returns.includes(method), `${label}: the diagram shows no ${method} return`);
  }
  assert.equal(shown.calls.length, shown.returns.length, `${label}: every call returned`);
  assert.equal(shown.pending, 0, `${label}: nothing left pending`);
  // Packets are drawn only from a private network's capture, never guessed from the calls.
  assert.equal(shown.wires, 0, `${label}: guessed packets drawn`);
  assert.ok(shown.rows.length >= check.sockets, `${label}: ${shown.rows.length} rows in the socket table`);
  if (check.packets) {
    // The packets the lesson is about, in this order, among those drawn.
    let at = 0;
    for (const flags of check.packets) {
      const found = shown.packets.indexOf(flags, at);
      assert.ok(found >= 0, `${label}: no ${flags} packet after the ${at}th: ${shown.packets.join(" | ")}`);
      at = found + 1;
    }
  }
}

