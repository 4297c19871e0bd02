// The conformance scenarios (tests/conformance/) in a web page's Python: the same runner.py, run by
// Pyodide in real Chromium with the bridge's `socket` and `select`, against a real daemon, and its
// transcript compared with CPython's own, step by step, as the Rust runner compares the native
// client's. Errno values are compared by name: the page's Python numbers them its own way
// (Emscripten's), and the bridge maps Linux's numbers to them by name.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { startDaemon, launchBrowser, openPage, root } from "./harness.mjs";

const dir = `${root}tests/conformance/`;
const names = readdirSync(`${dir}scenarios`).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).sort();
const spec = readFileSync(`${root}docs/protocol.md`, "utf8");
let daemon, browser, page;

before(async () => {
  daemon = await startDaemon();
  browser = await launchBrowser();
  page = await openPage(browser, daemon);
  await page.evaluate(async ([runner, scenarios]) => {
    const sb = await import("/pkg/sockbridge.js");
    const { startPython } = await import("/python.js");
    window.python = await startPython(await sb.Bridge.connect());
    const FS = window.python.pyodide.FS;
    FS.mkdirTree("/conformance/scenarios");
    FS.writeFile("/conformance/runner.py", runner);
    for (const [name, text] of Object.entries(scenarios)) FS.writeFile(`/conformance/scenarios/${name}.json`, text);
  }, [readFileSync(`${dir}runner.py`, "utf8"),
    Object.fromEntries(names.map((n) => [n, readFileSync(`${dir}scenarios/${n}.json`, "utf8")]))]);
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
});

/** Each non-zero port and fd number becomes a label in order of first appearance (as main.rs does). */
function abstract(transcript) {
  const ports = new Map(), fds = new Map();
  const walk = (v) => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (!v || typeof v !== "object") return;
    if (Array.isArray(v.addr) && typeof v.addr[1] === "number" && v.addr[1] !== 0) {
      if (!ports.has(v.addr[1])) ports.set(v.addr[1], ports.size + 1);
      v.addr[1] = `port#${ports.get(v.addr[1])}`;
    }
    if (typeof v.fd === "number") {
      if (!fds.has(v.fd)) fds.set(v.fd, fds.size + 1);
      v.fd = `fd#${fds.get(v.fd)}`;
    }
    Object.values(v).forEach(walk);
  };
  walk(transcript);
  return transcript;
}

/** Runs one scenario in the page's Python, in a session of its own (as the Rust runner does). */
function inPage(name) {
  return page.evaluate(async (name) => {
    const sb = await import("/pkg/sockbridge.js");
    const bridge = await sb.Bridge.connect();
    const lines = [], errors = [];
    const program = window.python.start(
      `import runpy, sys\nsys.argv = ["runner.py", "/conformance/scenarios/${name}.json"]\n` +
      `runpy.run_path("/conformance/runner.py", run_name="__main__")\n`,
      { bridge, name: "conformance.py", print: (l) => lines.push(l), printError: (l) => errors.push(l) });
    try {
      await program.done;
    } catch (e) {
      return { error: `${e.message}\n${errors.join("\n")}` };
    } finally {
      bridge.close();
    }
    return { transcript: JSON.parse(lines.join("\n"))[name] };
  }, name);
}

test("the conformance scenarios in the page's Python tell CPython's story, step by step", async () => {
  const cpython = JSON.parse(execFileSync("python3", [`${dir}runner.py`, ...names.map((n) => `${dir}scenarios/${n}.json`)]));
  const version = execFileSync("python3", ["--version"]).toString().trim();
  const pyodide = await page.evaluate(() => window.python.pyodide.runPython("import sys; sys.version.split()[0]"));
  let identical = 0;
  const documented = [], problems = [];
  for (const name of names) {
    const scenario = JSON.parse(readFileSync(`${dir}scenarios/${name}.json`, "utf8"));
    const got = await inPage(name);
    if (got.error) {
      problems.push(`${name}: the page's run failed: ${got.error}`);
      continue;
    }
    const page = abstract(got.transcript);
    const py = abstract(structuredClone(cpython[name]));
    assert.equal(page.length, scenario.steps.length, `${name}: one result per step`);
    const diffs = [];
    scenario.steps.forEach((step, i) => {
      const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
      if (!step.bridge) {
        if (!same(py[i], page[i])) problems.push(`${name} step ${i} \`${step.do}\`: CPython ${JSON.stringify(py[i])}, page ${JSON.stringify(page[i])}`);
      } else if (!spec.includes(`id="diff-${step.bridge.why}"`)) {
        problems.push(`${name} step ${i}: difference '${step.bridge.why}' is not documented in docs/protocol.md`);
      } else if (!same(page[i], step.bridge.expect)) {
        problems.push(`${name} step ${i} \`${step.do}\`: page ${JSON.stringify(page[i])}, documented as ${JSON.stringify(step.bridge.expect)}`);
      } else if (!same(py[i], page[i])) {
        diffs.push(step.bridge.why);
      }
    });
    if (diffs.length) documented.push(`${name} (${[...new Set(diffs)].join(", ")})`);
    else identical += 1;
  }
  console.log(`conformance in the page: ${names.length} scenarios run in Pyodide (Python ${pyodide}) through the bridge and ` +
    `on ${version}: ${identical} identical, ${documented.length} with documented differences (${documented.join("; ")}), ` +
    `${problems.length} mismatched`);
  assert.deepEqual(problems, []);
  assert.ok(names.length >= 50, `${names.length} scenarios`);
});
