// Every lesson in real Chromium: run its code, check its output, the live diagram and the socket
// table, switch language, and save a screenshot of each (tests/browser/artifacts/, for people to
// look at).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { startDaemon, launchBrowser, openPage, root } from "./harness.mjs";
import { checkLesson, lessonData, runLesson as run, withFreePort } from "./lesson-runner.mjs";

const artifacts = `${root}tests/browser/artifacts`;
let daemon, browser, page, lessons, printedZh;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  daemon = await startDaemon();
  browser = await launchBrowser();
  page = await openPage(browser, daemon, { width: 1400, height: 1000 });
  const data = await lessonData(page, daemon.http);
  lessons = [...data.lessons, data.playground];
  printedZh = data.printedZh;
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
});

/** The texts of the diagram's labels and the table's cells that do not fit their box. */
const cutText = () => page.$$eval(".step .label, table.sockets th, table.sockets td",
  (cells) => cells.filter((c) => c.scrollWidth > c.clientWidth + 1 || c.scrollHeight > c.clientHeight + 1).map((c) => c.textContent));

/** Runs `code` in the playground, in `language`, and waits for it to end (done or error). */
async function runInPlayground(code, language) {
  await page.goto(`${daemon.http}?lang=en#/playground`);
  await page.waitForSelector('article[data-lesson="playground"]');
  await page.click(`.languages [data-language="${language}"]`);
  await page.fill("textarea.editor", code);
  await page.click("button.run");
  await page.waitForFunction(() => ["done", "error"].includes(document.querySelector(".status").dataset.state), null, { timeout: 60000 });
}

/** Runs a lesson in this file's page and daemon. */
const runLesson = (lesson, lang, code) => run(page, daemon.http, lesson, lang, code);

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
  for (const code of ["python", "javascript"]) {
    test(`every lesson runs its ${code} and shows its calls (${lang})`, async () => {
      assert.ok(lessons.length >= 13, `${lessons.length} lessons`);
      for (const lesson of lessons) {
        const shown = await runLesson(lesson, lang, code);
        checkLesson(lesson, lang, code, shown, printedZh);
        await page.screenshot({ path: `${artifacts}/lesson-${lesson.id}-${lang}-${code}.png`, fullPage: true });
        // Every label of the diagram and cell of the table reads whole, on a desktop and on a phone.
        assert.deepEqual(await cutText(), [], `${lesson.id} (${lang}, ${code}): cut at 1400px`);
        await page.setViewportSize({ width: 390, height: 844 });
        assert.deepEqual(await cutText(), [], `${lesson.id} (${lang}, ${code}): cut at 390px`);
        if (code === "python") {
          await page.screenshot({ path: `${artifacts}/phone-lesson-${lesson.id}-${lang}.png`, fullPage: true });
        }
        await page.setViewportSize({ width: 1400, height: 1000 });
      }
    });
  }
}

test("the diagram draws a refused connection and names constants as the code does", async () => {
  await runLesson(lessons.find((l) => l.id === "client"), "en", "javascript");
  const labels = await page.$$eval(".step .label", (ls) => ls.map((l) => l.textContent));
  // Without a private network nothing is captured: the diagram draws calls and results only,
  // no guessed packets.
  assert.equal(await page.$$eval(".step.wire, .step.packet", (rows) => rows.length), 0);
  assert.ok(labels.some((l) => l.includes("ConnectionRefusedError (111)")), labels.join(" | "));
  assert.ok(labels.some((l) => l.includes("socket(AF_INET, SOCK_STREAM)")), labels.join(" | "));
  await runLesson(lessons.find((l) => l.id === "reuseaddr"), "en", "javascript");
  const more = await page.$$eval(".step .label", (ls) => ls.map((l) => l.textContent));
  assert.ok(more.some((l) => l.includes("setsockopt(SOL_SOCKET, SO_REUSEADDR, True)")), more.join(" | "));
  assert.ok(more.some((l) => l.includes("OSError (98)")), more.join(" | "));
});

test("the socket table follows the sockets' states", async () => {
  // In JavaScript, whose sockets stay open until the session's end (a Python program's end closes them).
  await runLesson(lessons.find((l) => l.id === "naming"), "en", "javascript");
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
  await page.click('.languages [data-language="javascript"]');
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
  await withFreePort(narrow);
  await narrow.click("button.run");
  await narrow.waitForFunction(() => document.querySelector('.program[data-name="client.py"] .program-status').dataset.state === "done",
    null, { timeout: 60000 });
  const [code, live] = await narrow.$$eval(".workbench > section", (s) => s.map((e) => e.getBoundingClientRect().x));
  assert.equal(code, live, "the live view sits under the code");
  const [server, client] = await narrow.$$eval(".program", (s) => s.map((e) => e.getBoundingClientRect().x));
  assert.equal(server, client, "the client's editor sits under the server's");
  assert.ok(await narrow.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), "no sideways scrolling");
  await narrow.screenshot({ path: `${artifacts}/narrow-server-zh.png`, fullPage: true });
  await narrow.close();
});

test("the tutorial's echo server keeps serving: its client runs again while it waits, and Stop ends it", async () => {
  const tab = await openPage(browser, daemon, { width: 1400, height: 1000 });
  await tab.goto(`${daemon.http}?lang=en#/lesson/server`);
  await withFreePort(tab);
  await tab.click("button.run");
  const state = (name) => tab.$eval(`.program[data-name="${name}"] .program-status`, (s) => s.dataset.state);
  const lines = (name) => tab.$eval(`.program[data-name="${name}"] pre.output`, (p) => p.textContent.trim().split("\n"));
  await tab.waitForFunction(() => document.querySelector('.program[data-name="client.py"] .program-status').dataset.state === "done",
    null, { timeout: 60000 });
  assert.equal(await state("server.py"), "waiting");
  // The live view says which program holds each socket: the listener and what it accepted are the
  // server's, the connecting sockets the client's.
  const holders = await tab.$$eval("table.sockets tbody tr", (trs) => trs.map((tr) => [tr.dataset.fd, tr.querySelector(".owner")?.textContent]));
  assert.deepEqual(holders.find(([fd]) => fd === "3"), ["3", "server.py"]);
  assert.ok(holders.some(([, owner]) => owner === "client.py"), JSON.stringify(holders));
  const pending = await tab.$eval(".step.pending", (s) => s.textContent);
  assert.match(pending, /server\.pyfd 3accept\(\)$/);
  // The same server takes the client's second run.
  await tab.click('.program[data-name="client.py"] button.run-one');
  await tab.waitForFunction(() => document.querySelector('.program[data-name="server.py"] pre.output').textContent.split("accepted").length === 5);
  await tab.waitForFunction(() => document.querySelector('.program[data-name="client.py"] .program-status').dataset.state === "done");
  assert.deepEqual(await lines("client.py"), ["alice got back b'hello from alice'", "bob got back b'hello from bob'"]);
  assert.equal((await lines("server.py")).filter((l) => l.startsWith("accepted")).length, 4);
  await tab.screenshot({ path: `${artifacts}/python-server-and-client-en.png` });
  // Stop is Ctrl-C: KeyboardInterrupt in accept, at the line the server waited on, and its port is free.
  await tab.click('.program[data-name="server.py"] button.stop-one');
  await tab.waitForFunction(() => document.querySelector(".status").dataset.state === "stopped");
  const server = await lines("server.py");
  assert.deepEqual(server.slice(-5, -3), ["Traceback (most recent call last):", '  File "server.py", line 10, in <module>']);
  assert.match(server.at(-3), /^ {4}conn, addr = server\.accept\(\)/);
  assert.equal(server.at(-1), "KeyboardInterrupt: stopped (the Stop button)");
  // The diagram says that Stop ended the waiting accept; it draws no error of the program's.
  const stopped = await tab.$$eval(".step.stopped .label", (ls) => ls.map((l) => l.textContent));
  assert.ok(stopped.some((l) => /accept ← stopped by the Stop button/.test(l)), stopped.join(" | "));
  assert.deepEqual(await tab.$$eval(".step.error .label", (ls) => ls.map((l) => l.textContent)), []);
  // The table keeps every socket the run made: the clients' closed sockets whose fd numbers the
  // next ones took are still there, struck through.
  const rows = await tab.$$eval("table.sockets tbody tr[data-fd]", (trs) => trs.map((tr) => [tr.dataset.fd, tr.className]));
  assert.ok(rows.length >= 9, JSON.stringify(rows));
  assert.ok(rows.filter(([fd]) => fd === "4").length >= 2, JSON.stringify(rows));
  await tab.click('.program[data-name="client.py"] button.run-one');
  await tab.waitForFunction(() => document.querySelector('.program[data-name="client.py"] .program-status').dataset.state === "error");
  assert.match((await lines("client.py")).at(-1), /^ConnectionRefusedError: \[Errno \d+\] Connection refused$/);
  await tab.close();
});

test("the tutorial's own code runs as written, and its mistake is a Python error with its line marked", async () => {
  const tab = await openPage(browser, daemon, { width: 1400, height: 1000 });
  await tab.goto(`${daemon.http}?lang=en#/lesson/creating`);
  await tab.click("button.load-tutorial");
  await tab.click("button.run");
  await tab.waitForFunction(() => document.querySelector(".status").dataset.state === "error", null, { timeout: 60000 });
  const output = (await tab.textContent("pre.output")).trim().split("\n");
  assert.deepEqual(output, [
    "Traceback (most recent call last):",
    '  File "creating.py", line 3, in <module>',
    "    s1 = socket(socket.AF_INET, socket.SOCK_STREAM)",
    "                ^^^^^^^^^^^^^^",
    "AttributeError: type object 'socket' has no attribute 'AF_INET'",
  ]);
  assert.deepEqual(await tab.$$eval(".gutter .err", (m) => m.map((n) => n.textContent)), ["3"]);
  assert.equal(await tab.getAttribute("textarea.editor", "aria-description"), "error at line 3");
  await tab.screenshot({ path: `${artifacts}/python-tutorial-mistake-en.png` });
  await tab.close();
});

test("a browser without JSPI gets the JavaScript lessons and a sentence that says why", async () => {
  const tab = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await tab.addInitScript(() => { delete WebAssembly.Suspending; });
  await tab.goto(daemon.pages);
  await tab.waitForFunction(() => !location.hash.includes("sb-token"));
  await tab.goto(`${daemon.http}?lang=en#/lesson/naming`);
  await tab.waitForSelector("p.nojspi");
  assert.match(await tab.textContent("p.nojspi"), /cannot pause Python while it waits for the network/);
  assert.equal(await tab.getAttribute('.languages [data-language="python"]', "disabled"), "");
  assert.equal(await tab.getAttribute('.languages [data-language="javascript"]', "aria-selected"), "true");
  await tab.click("button.run");
  await tab.waitForFunction(() => document.querySelector(".status").dataset.state === "done");
  assert.match(await tab.textContent("pre.output"), /^server: TCP \('127\.0\.0\.1', \d+\)/);
  await tab.close();
});

test("Stop while Python is still loading: the program never starts", async () => {
  const tab = await openPage(browser, daemon, { width: 1400, height: 1000 });
  // Pyodide's WebAssembly is held back until Stop has been pressed.
  let release;
  const stopped = new Promise((resolve) => { release = resolve; });
  await tab.route("**/pyodide.asm.wasm", async (route) => {
    await stopped;
    await route.continue();
  });
  await tab.goto(`${daemon.http}?lang=en#/lesson/naming`);
  await tab.click("button.run");
  assert.equal(await tab.$eval(".status", (s) => s.dataset.state), "loading");
  await tab.click("button.stop");
  release();
  await tab.waitForFunction(() => document.documentElement.dataset.python === "ready", null, { timeout: 60000 });
  await tab.waitForTimeout(200); // the program's start would have run by now
  assert.equal(await tab.$eval(".status", (s) => s.dataset.state), "stopped");
  assert.equal(await tab.textContent("pre.output"), "");
  assert.equal(await tab.locator(".step[data-call]").count(), 0);
  await tab.close();
});

test("on a Chinese page the bridge's refusals and Stop are explained in Chinese under the line Python printed", async () => {
  const tab = await openPage(browser, daemon, { width: 1400, height: 1000 });
  await tab.goto(`${daemon.http}?lang=zh#/playground`);
  await tab.click("button.run");
  await tab.waitForFunction(() => document.querySelector(".status").dataset.state === "done", null, { timeout: 60000 });
  const lines = (await tab.textContent("pre.output")).trim().split("\n");
  const refused = lines.findIndex((l) => l.startsWith("PermissionError"));
  assert.match(lines[refused], /not other programs on this computer/, "Python's own line, as Python printed it");
  assert.equal(lines[refused + 1], "↳ 桥的策略只让页面连接它自己的 socket 和实验服务，不能连接这台电脑上的其他程序（守护进程的 --allow-connect 可以放行）。");
  await tab.goto(`${daemon.http}?lang=zh#/lesson/server`);
  await withFreePort(tab);
  await tab.click("button.run");
  await tab.waitForFunction(() => document.querySelector('.program[data-name="client.py"] .program-status').dataset.state === "done",
    null, { timeout: 60000 });
  await tab.click('.program[data-name="server.py"] button.stop-one');
  await tab.waitForFunction(() => document.querySelector(".status").dataset.state === "stopped");
  const server = (await tab.textContent('.program[data-name="server.py"] pre.output')).trim().split("\n");
  assert.deepEqual(server.slice(-2), ["KeyboardInterrupt: stopped (the Stop button)", "↳ 程序被“停止”按钮中断了，相当于在终端里按 Ctrl-C。"]);
  await tab.close();
});

test("an output pane keeps the newest 2,000 lines and says how many it left out", async () => {
  const tab = await openPage(browser, daemon, { width: 1400, height: 1000 });
  await tab.goto(`${daemon.http}?lang=en#/playground`);
  await tab.fill("textarea.editor", "for i in range(5000):\n    print('line', i)\n");
  await tab.click("button.run");
  await tab.waitForFunction(() => document.querySelector(".status").dataset.state === "done", null, { timeout: 60000 });
  const lines = (await tab.textContent("pre.output")).trim().split("\n");
  assert.equal(lines[0], "(3000 earlier lines left out: the pane keeps the newest 2000)");
  assert.equal(lines.length, 2001);
  assert.equal(lines[1], "line 3000");
  assert.equal(lines.at(-1), "line 4999");
  await tab.close();
});

test("the diagram tells a makefile object from its socket, shows \\r, and draws connect_ex's results", async () => {
  await runInPlayground(`
const srv = await bridge.socket(AF_INET, SOCK_STREAM);
await srv.bind(["127.0.0.1", 0]);
await srv.listen(1);
const s = await bridge.socket(AF_INET, SOCK_STREAM);
print(await s.connect_ex(await srv.getsockname()));
const [c] = await srv.accept();
const f = s.makefile();
await c.sendall("a\\r\\nb\\n");
print(await f.readline());
await f.close();
print(await s.connect_ex(await srv.getsockname()));
const gone = await bridge.socket(AF_INET, SOCK_STREAM);
await gone.bind(["127.0.0.1", 0]);
const closed = await gone.getsockname();
await gone.close();
const t = await bridge.socket(AF_INET, SOCK_STREAM);
print(await t.connect_ex(closed));
`, "javascript");
  assert.deepEqual((await page.textContent("pre.output")).trim().split("\n"), ["0", "b'a\\r\\n'", "106", "111"]);
  const steps = await page.$$eval(".step", (rows) => rows.map((r) => r.querySelector(".label").textContent.replace(/^[^:]*: /, "")));
  const after = (text) => steps.slice(steps.findIndex((s) => s.includes(text)) + 1);
  // makefile returns a file object, and its close is the file's: no FIN, the socket stays connected.
  assert.ok(steps.some((s) => s.includes("makefile → a file object on fd 4")), steps.join(" | "));
  assert.ok(steps.some((s) => s.endsWith("file.close()")), steps.join(" | "));
  assert.ok(!after("file.close()").slice(0, 2).some((s) => s.includes("FIN")), steps.join(" | "));
  const row = await page.$eval('table.sockets tr[data-fd="4"]', (tr) => tr.className);
  assert.ok(!row.includes("closed"), "fd 4 is still open");
  // A '\r' the code sent is shown as Python shows it.
  assert.ok(steps.some((s) => s.includes("sendall('a\\r\\nb\\n')")), steps.join(" | "));
  // connect_ex's results, and no packet guessed (nothing is captured without a private network).
  assert.ok(steps.some((s) => s.includes("connect_ex → 0")) && steps.some((s) => s.includes("connect_ex → 111")), steps.join(" | "));
  assert.equal(await page.$$eval(".step.wire, .step.packet", (rows) => rows.length), 0);
});

test("the student's code stays across a reload, Reset brings the lesson's back, and a share link carries it", async () => {
  const tab = await openPage(browser, daemon, { width: 1400, height: 1000 });
  try {
    await tab.goto(`${daemon.http}?lang=en#/lesson/creating`);
    await tab.waitForSelector('article[data-lesson="creating"]');
    await tab.click('.languages [data-language="javascript"]');
    const original = await tab.inputValue("textarea.editor");
    await tab.fill("textarea.editor", 'print("my own code")');
    await tab.reload();
    await tab.waitForSelector('article[data-lesson="creating"]');
    assert.equal(await tab.inputValue("textarea.editor"), 'print("my own code")', "kept across a reload");
    // Share: a link that puts the code in another browser's editor, and runs only on Run.
    await tab.click("button.share");
    const link = await tab.inputValue("input.share-link");
    assert.match(link, /#\/lesson\/creating&code=[A-Za-z0-9_-]+$/);
    await tab.click("button.reset");
    assert.equal(await tab.inputValue("textarea.editor"), original);
    await tab.reload();
    await tab.waitForSelector('article[data-lesson="creating"]');
    assert.equal(await tab.inputValue("textarea.editor"), original, "Reset forgets the edit");
    const other = await browser.newContext();
    const friend = await other.newPage();
    await friend.goto(`${link.replace("#/", `#sb-token=${daemon.token}&/`)}`);
    await friend.waitForSelector('article[data-lesson="creating"]');
    assert.equal(await friend.inputValue("textarea.editor"), 'print("my own code")');
    assert.equal(await friend.$eval(".status", (s) => s.dataset.state ?? ""), "", "nothing ran");
    assert.ok(!(await friend.evaluate(() => location.hash)).includes("code="), "the address no longer carries it");
    await friend.click("button.run");
    await friend.waitForFunction(() => document.querySelector(".status").dataset.state === "done");
    assert.equal((await friend.textContent("pre.output")).trim(), "my own code");
    await other.close();
  } finally {
    await tab.close();
  }
});

test("Replay draws the last run's diagram again, a step at a time", async () => {
  await runLesson(lessons.find((l) => l.id === "client"), "en", "javascript");
  const total = await page.$$eval(".step", (s) => s.length);
  await page.selectOption("select.speed", { index: 2 });
  await page.click("button.replay");
  const shown = () => page.$$eval(".step", (s) => s.filter((x) => !x.classList.contains("replay-hidden")).length);
  assert.ok((await shown()) < total, "the steps are drawn again from the first");
  await page.waitForFunction((n) => [...document.querySelectorAll(".step")].filter((x) => !x.classList.contains("replay-hidden")).length === n, total);
});

test("an error in a JavaScript program's background task shows in its output, not only in the console", async () => {
  await runInPlayground(`
const s = await bridge.socket(AF_INET, SOCK_STREAM);
s.connect(["127.0.0.1", 1]); // not awaited: its error has nobody to catch it
await new Promise((r) => setTimeout(r, 300));
print("main done");
`, "javascript");
  const lines = (await page.textContent("pre.output")).trim().split("\n");
  assert.ok(lines.some((l) => /^\(an error in a background task\) PermissionError: /.test(l)), lines.join("\n"));
  assert.ok(lines.includes("main done"));
});

test("a call the program did not await is drawn as ended with the program, not as its error", async () => {
  await runInPlayground("const s = bridge.socket(AF_INET, SOCK_STREAM);\nawait s.connect(labs.echo_tcp);\n", "javascript");
  assert.equal(await page.$eval(".status", (st) => st.dataset.state), "error");
  assert.equal((await page.textContent("pre.output")).trim(), "TypeError: s.connect is not a function");
  const ended = await page.$$eval(".step.stopped .label", (ls) => ls.map((l) => l.textContent));
  assert.ok(ended.some((l) => l.includes("socket ← the program ended before this call returned")), ended.join(" | "));
  assert.deepEqual(await page.$$eval(".step.error", (rows) => rows.length), 0);
});

test("a page without the daemon's token is told what to do, once, in its language", async () => {
  const stranger = await browser.newContext();
  const tab = await stranger.newPage();
  try {
    for (const [lang, hint] of [["en", /^Cannot reach the daemon/], ["zh", /^连不上守护进程/]]) {
      await tab.goto(`${daemon.http}?lang=${lang}#/lesson/creating`);
      await tab.waitForSelector('article[data-lesson="creating"]');
      await tab.click('.languages [data-language="javascript"]');
      await tab.click("button.run");
      await tab.waitForFunction(() => document.querySelector(".status").dataset.state === "error");
      const [first, second] = (await tab.textContent("pre.output")).trim().split("\n");
      assert.match(first, /^ConnectionError: cannot open a bridge session: /);
      assert.doesNotMatch(first, /ConnectionError: ConnectionError/);
      assert.match(second, hint);
    }
  } finally {
    await stranger.close();
  }
});

/** A solution of each lesson's exercise, as a student would write it into the lesson's Python. */
const SOLUTIONS = {
  naming: (code) => `${code}\nu = socket(AF_INET, SOCK_DGRAM)\nu.bind(("127.0.0.1", 0))\nprint("udp:", u.getsockname())\n`,
  "what-is-a-socket": (code) => `${code}\nfor i in range(5):\n    print(socket(AF_INET, SOCK_STREAM).fileno())\n`,
  creating: (code) => `${code}\ns6 = socket(AF_INET6, SOCK_STREAM)\nprint(s6.family)\n`,
  server: (code) => code.replace("conn.sendall(data)", "conn.sendall(data.upper())"),
  client: (code) => `${code}\ne = socket(AF_INET, SOCK_STREAM)\ne.connect(labs.echo_tcp)\ne.sendall(b"ping")\nprint(e.recv(100))\n`,
  "send-recv": (code) => `${code}\ng = socket(AF_INET, SOCK_STREAM)\ng.connect(labs.chargen_tcp)\ngot = b""\nwhile len(got) < 100:\n    got += g.recv(10)\nprint(len(got))\n`,
  udp: (code) => `${code}\nfor d in (b"1", b"2", b"3"):\n    a.sendto(d, labs.echo_udp)\n    print(a.recvfrom(1024))\n`,
  "close-names": (code) => `${code}\nprint(conn.getsockname(), conn.getpeername())\n`,
  reuseaddr: (code) => `${code}\nprint(plain.getsockopt(SOL_SOCKET, SO_REUSEADDR))\n`,
  timeouts: (code) => `${code}\nw = socket(AF_INET, SOCK_DGRAM)\nw.settimeout(0.2)\ntry:\n    w.recvfrom(100)\nexcept OSError as e:\n    print(type(e).__name__)\n`,
  handshake: {
    "server.py": (code) => code.replace(/^(print\(.*conn\.recv\(1024\)\))$/m, '$1\nconn.sendall(b"bye")'),
    "client.py": (code) => code.replace(/^(client\.sendall\(b"hello"\).*)$/m, "$1\nprint(client.recv(1024))"),
  },
  "fileno-makefile": (code) => code.replace("f.flush()", 'f.write(b"221 Bye\\r\\n")\nf.flush()')
    .replace(/^(print\(.*repr\(lines\.readline\(\)\)\))$/m, "$1\nprint(repr(lines.readline()))"),
};

for (const half of [0, 1]) {
  test(`exercises (${half ? "lessons 7 to 12" : "lessons 1 to 6"}): the lesson's own code does not solve its exercise, and a solution does, checked in the page`, async () => {
    const all = await page.evaluate(async () => Object.keys((await import("./lessons.js")).EXERCISES));
    assert.deepEqual([...all].sort(), Object.keys(SOLUTIONS).sort(), "a solution for every exercise");
    const ids = all.filter((id) => (lessons.findIndex((l) => l.id === id) >= 6) === Boolean(half));
    assert.ok(ids.length >= 6, `${ids.length} exercises in this half`);
    for (const id of ids) {
      const lesson = lessons.find((l) => l.id === id);
      // Not solved by the lesson's own code (the English page); solved, in both languages.
      await runLesson(lesson, "en", "python");
      const before = await page.$eval(".verdict", (v) => [v.dataset.solved, v.textContent]);
      assert.equal(before[0], "false", `${id}: the lesson's code solved it: ${before[1]}`);
      assert.match(before[1], /^✗ Not yet: /);
      for (const lang of ["en", "zh"]) {
        await run(page, daemon.http, lesson, lang, "python", {
          edit: async (tab) => {
            // A solution of one program's code, or of several programs', by name.
            const byName = typeof SOLUTIONS[id] === "function"
              ? { [id === "server" ? "server.py" : ""]: SOLUTIONS[id] } : SOLUTIONS[id];
            for (const [name, solve] of Object.entries(byName)) {
              const which = name ? tab.locator(`.program[data-name="${name}"] textarea.editor`)
                : tab.locator(".program textarea.editor").first();
              const solved = solve(await which.inputValue());
              assert.notEqual(solved, await which.inputValue(), `${id}: the solution changes ${name || "the code"}`);
              await which.fill(solved);
            }
          },
        });
        const after = await page.$eval(".verdict", (v) => [v.dataset.solved, v.textContent]);
        assert.deepEqual(after, ["true", lang === "en" ? "✓ Solved!" : "✓ 完成了！"], `${id} (${lang})`);
      }
    }
  });
}

test("an error in a Python program's background task (an asyncio task) shows in its output too", async () => {
  await runInPlayground([
    "import asyncio",
    "async def bad():",
    "    raise ValueError('boom')",
    "async def main():",
    "    task = asyncio.ensure_future(bad())",
    "    await asyncio.sleep(0.2)",
    "    print('main done')",
    "await main()",
  ].join("\n"), "python");
  const lines = (await page.textContent("pre.output")).split("\n");
  assert.ok(lines.includes("ValueError: boom"), lines.join("\n"));
  assert.ok(lines.includes("main done"), lines.join("\n"));
});

test("Step shows the diagram one step at a time", async () => {
  await runLesson(lessons.find((l) => l.id === "naming"), "en", "javascript");
  const total = await page.$$eval(".step", (s) => s.length);
  const shown = () => page.$$eval(".step", (s) => s.filter((x) => !x.classList.contains("replay-hidden")).map((x) => x.dataset.text));
  const first = (await page.$$eval(".step", (s) => s.map((x) => x.dataset.text))).slice(0, 2);
  await page.click("button.step-once");
  assert.deepEqual(await shown(), first.slice(0, 1));
  await page.click("button.step-once");
  assert.deepEqual(await shown(), first);
  for (let i = 2; i < total; i++) await page.click("button.step-once");
  assert.equal((await shown()).length, total);
});
