// The browser package's TypeScript types checked against use: `tsc --noEmit` (TypeScript from npm)
// on a sample that uses every export and method (types/every-method.ts), and on one with the
// mistakes the types must catch (types/wrong/wrong.ts), each of which must be an error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { root } from "./harness.mjs";

const here = `${root}tests/browser/`;
const tsc = (project) => spawnSync(`${here}node_modules/.bin/tsc`, ["-p", `${here}${project}`], { encoding: "utf8" });

test("the .d.ts types every export and method as a page uses them", () => {
  const run = tsc("types");
  assert.equal(run.status, 0, run.stdout + run.stderr);
  // The sample uses every value the package exports and every method and property of its classes.
  // (wasm-bindgen's loader types, from InitInput on, are not the package's.)
  const dts = readFileSync(`${root}web-demo/pkg/wasm_client.d.ts`, "utf8").split("export type InitInput")[0];
  const entry = readFileSync(`${root}web-demo/pkg/sockbridge.d.ts`, "utf8");
  const sample = readFileSync(`${here}types/every-method.ts`, "utf8");
  const exported = [...entry.matchAll(/export (?:type )?\{ ([^}]+) \}/g)].flatMap((m) => m[1].split(", "));
  const members = [...dts.matchAll(/^ {4}(?:static |get |set |readonly )?([a-z_][A-Za-z_]*)[(:?]/gm)].map((m) => m[1])
    .filter((name) => name !== "free");
  assert.ok(members.length >= 40, `${members.length} members found`);
  for (const name of [...exported, ...members]) {
    assert.match(sample, new RegExp(`\\b${name}\\b`), `the sample does not use ${name}`);
  }
});

test("the types catch the usual mistakes: the loader is not exported, missing arguments, wrong addresses, absent labs, link settings", () => {
  const run = tsc("types/wrong");
  assert.notEqual(run.status, 0);
  const codes = [...run.stdout.matchAll(/error (TS\d+)/g)].map((m) => m[1]).sort();
  assert.deepEqual(codes, ["TS18048", "TS2305", "TS2322", "TS2345", "TS2554"], run.stdout);
});
