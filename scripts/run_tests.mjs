#!/usr/bin/env node
// Runs every test/**/*.test.ts file in its own process (uvu suites call test.run() at the end), two at a time to
// fit the 2-core CI machines: first under Node, then under Deno (one suite, two runners). Prints a line per runtime
// and one closing line for all: "N passed, N failed[, N skipped]".
// Before any test it makes sure of what a fresh Debian machine with only Node and git lacks: the Debian packages
// (scripts/system_deps.mjs: installed as root, else one message naming them) and node_modules (npm ci).
// Usage: node scripts/run_tests.mjs [--runtime node|deno|all] [--only <substring>] [files...]
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { ensureSystemDeps } from "./system_deps.mjs";

try {
  ensureSystemDeps();
} catch (err) {
  process.stderr.write(`Error: ${err.message}\n`);
  process.exit(1);
}
if (!existsSync("node_modules/.bin/tsx") || !existsSync("node_modules/.bin/deno")) {
  process.stdout.write("node_modules is missing: npm ci\n");
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { stdio: "inherit" });
}

const args = process.argv.slice(2);
let runtime = "all";
const only = [];
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--runtime") runtime = args[++i];
  else if (args[i] === "--only") only.push(args[++i]);
  else files.push(args[i]);
}
if (!["node", "deno", "all"].includes(runtime)) {
  process.stderr.write(`unknown runtime "${runtime}" (node, deno or all)\n`);
  process.exit(1);
}

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

// Runtime adapter tests belong to their runtime. The reliability suites (kill -9, outages, in-process fuzzing) test
// server and agent logic that is the same on both runtimes and run on Node only: they are the slowest files (the
// in-process fuzzers pass on Deno too, in about 50 s each). The Workload API fuzzer runs on both: malformed HTTP/2 is
// where the runtimes differ (Deno's HTTP/2 layer aborts on some inputs, which the agent's frame guard keeps from it;
// see README.md), as does the raw-frame suite, test/integration/workload_bad_input.test.ts. The release test runs
// the release's Node single executables, which are the same whichever runtime runs the test file: Node only. The
// console's browser test drives Chromium through puppeteer-core, which supports Node only (its launcher and CDP
// transport are written for Node's child_process and ws); the server it tests is a separate process either way.
function filesFor(rt) {
  const excluded = rt === "deno"
    ? ["test/runtime/node/", "test/reliability/", "test/integration/release.test.ts", "test/integration/console_browser.test.ts"]
    : ["test/runtime/deno/"];
  const included = rt === "deno" ? ["test/reliability/fuzz_workload.test.ts"] : [];
  return (files.length ? files : walk("test").filter((f) => included.includes(f) || !excluded.some((x) => f.startsWith(x))))
    .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
    .sort();
}

// uvu discards errors thrown in before/after hooks; test/_uvu.ts wraps them, so every file must take uvu from there.
const direct = filesFor("node").concat(filesFor("deno")).filter((f) => !f.endsWith("test/_uvu.ts") && /from\s+["']uvu["']/.test(readFileSync(f, "utf8")));
if (direct.length > 0) {
  process.stderr.write(
    `Error: these test files import "uvu" directly; import { test, suite } from test/_uvu.ts instead:\n  ${[...new Set(direct)].join("\n  ")}\n`,
  );
  process.exit(1);
}

const concurrency = Number(process.env.TEST_CONCURRENCY ?? 2);
const deno = join(process.cwd(), "node_modules/.bin/deno");
// uvu colours its output; the counts are read from the text without the ANSI escapes.
// deno-lint-ignore no-control-regex
const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");

function runOne(file, rt) {
  return new Promise((resolve) => {
    const cmd = rt === "deno" ? deno : process.execPath;
    const argv = rt === "deno" ? ["run", "-A", "--no-check", file] : ["--import", "tsx", file];
    const started = Date.now();
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WISP_TEST_RUNTIME: rt } });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    // A hung file must not hang CI: uvu files here finish in seconds.
    const limit = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 300_000);
    const timer = setTimeout(() => {
      out += `\nkilled: the file had not finished after ${limit / 1000} s\n`;
      child.kill("SIGKILL");
    }, limit);
    child.on("close", (code, signal) => {
      if (signal) out += `\nthe test process ended by signal ${signal}\n`;
      clearTimeout(timer);
      const text = strip(out);
      const num = (re) => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
      const total = num(/Total:\s+(\d+)/g);
      const passed = num(/Passed:\s+(\d+)/g);
      const skipped = num(/Skipped:\s+(\d+)/g);
      let failed = total - passed - skipped;
      // An after hook that threw (test/_uvu.ts prints the marker with its stack).
      failed += [...text.matchAll(/\[hook failed\]/g)].length;
      if (code !== 0 && failed === 0) failed = 1; // crashed before or after its suites reported
      if (total === 0 && failed === 0) {
        failed = 1; // a file that ran no test proves nothing
        out += "\nno test ran in this file\n";
      }
      resolve({ file, total, passed, skipped, failed, code, out: strip(out), ms: Date.now() - started });
    });
  });
}

async function runSuite(rt) {
  const list = filesFor(rt);
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const f = list[next++];
      const r = await runOne(f, rt);
      results.push(r);
      const mark = r.failed ? "FAIL" : "ok  ";
      process.stdout.write(`${mark} [${rt}] ${relative(".", f)} (${r.passed}/${r.total}, ${(r.ms / 1000).toFixed(1)}s)\n`);
      if (r.failed) process.stdout.write(r.out.split("\n").map((l) => "    " + l).join("\n") + "\n");
      // Measured figures (reliability and fuzz suites) are part of the report even when the file passes.
      else for (const l of r.out.split("\n")) if (l.includes("[figure]")) process.stdout.write(`    ${l.replace(/^[•✘\s]+/, "")}\n`);
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const sum = (k) => results.reduce((n, r) => n + r[k], 0);
  const t = { passed: sum("passed"), failed: sum("failed"), skipped: sum("skipped") };
  process.stdout.write(
    `[${rt}] ${results.length} files in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${t.passed} passed, ${t.failed} failed${
      t.skipped ? `, ${t.skipped} skipped` : ""
    }\n\n`,
  );
  return t;
}

const totals = { passed: 0, failed: 0, skipped: 0 };
for (const rt of runtime === "all" ? ["node", "deno"] : [runtime]) {
  const t = await runSuite(rt);
  for (const k of Object.keys(totals)) totals[k] += t[k];
}
process.stdout.write(`${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ""}\n`);
process.exit(totals.failed > 0 ? 1 : 0);
