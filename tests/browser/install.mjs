// Run alone, with a long timeout (release builds): node --test --test-timeout=1500000 install.mjs
// (scripts/test.sh does; it is not a *.test.mjs file, so the quick browser run leaves it out).
// The daemon as users install it, with cargo: from the checkout's path and from a git URL, each
// into a fresh root, then run from an empty directory with no checkout near it. The teaching
// pages, the browser package and Python come from the binary (a git checkout has no built
// package: the install builds it). In Chromium, a lesson runs in Python and in JavaScript.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root, startDaemon, launchBrowser, openPage } from "./harness.mjs";
import { checkLesson, lessonData, runLesson } from "./lesson-runner.mjs";

const run = promisify(execFile);
// One target directory for both installs, so the dependencies compile once (and stay for the next run).
const target = join(root, "target", "install");
// A release build of the daemon, and from git the browser package as well: minutes on two cores.
const INSTALL = { timeout: 20 * 60 * 1000 };
let scratch, browser;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "sockbridge-install-"));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** `cargo install ARGS --root DEST`, run from an empty directory; the installed binary's path. */
async function install(name, args) {
  const dest = join(scratch, name);
  const cwd = await mkdtemp(join(scratch, "cwd-"));
  await run("cargo", ["install", "--locked", "--quiet", "--target-dir", target, "--root", dest, ...args], {
    cwd, maxBuffer: 64 << 20, timeout: INSTALL.timeout,
  });
  return join(dest, "bin", "bridge-daemon");
}

/** Runs the installed daemon from an empty directory and a lesson in its pages, both ways. */
async function lessonsFrom(binary) {
  const cwd = await mkdtemp(join(scratch, "run-"));
  const daemon = await startDaemon([], { webRoot: null, binary, cwd });
  try {
    const page = await openPage(browser, daemon);
    const http = (path) => fetch(`${daemon.http}${path}`).then((r) => r.status);
    assert.equal(await http("/pkg/wasm_client_bg.wasm"), 200, "the browser package is served");
    assert.equal(await http("/pyodide/pyodide.asm.wasm"), 200, "Python is served");
    const { lessons: [lesson], printedZh } = await lessonData(page, daemon.http);
    for (const code of ["python", "javascript"]) {
      const shown = await runLesson(page, daemon.http, lesson, "en", code);
      checkLesson(lesson, "en", code, shown, printedZh);
    }
  } finally {
    await daemon.stop();
  }
}

test("install: cargo install --path bridge-daemon serves the lessons, the package and Python with no checkout", INSTALL, async () => {
  await lessonsFrom(await install("from-path", ["--path", join(root, "bridge-daemon")]));
});

test("install: cargo install --git (the repository's URL) builds the package itself and serves it all", INSTALL, async () => {
  await lessonsFrom(await install("from-git", ["--git", `file://${root}`, "bridge-daemon"]));
});
