#!/usr/bin/env node
/**
 * Runs every benchmark in scripts/bench in its tiny --smoke mode (mint with a short --seconds) and exits non-zero if
 * any of them crashes, prints no table, or the whole run exceeds its time budget. CI calls `node scripts/bench/smoke.mjs`.
 * Numbers from smoke runs mean nothing; their JSON goes to bench-results/ like any run and is overwritten by real runs.
 * @module
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
const BUDGET_MS = Number(process.env.WISP_BENCH_SMOKE_BUDGET_MS ?? 240_000);
/** Two at a time: the benchmarks are mostly process start-up and waiting, and the budget (240 s) leaves room for a CI machine under load (65 s seen at load 15, 175 s at load 15 with 11 benchmarks). */
const PARALLEL = 2;
const ARGS = { mint: ["--seconds", "0.1"] };

const names = readdirSync(HERE).filter((f) => f.endsWith(".ts") && f !== "run.ts").map((f) => f.slice(0, -3)).sort();

function runOne(name) {
  const args = ["--import", "tsx", join(HERE, `${name}.ts`), ...(ARGS[name] ?? ["--smoke"])];
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), BUDGET_MS);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      // Every benchmark prints a table whose header is underlined with dashes.
      const printedTable = /\n-{3,}/.test(out);
      resolve({ name, ok: code === 0 && printedTable, code, signal, ms: Date.now() - started, out });
    });
  });
}

const started = Date.now();
const queue = [...names];
const results = [];
await Promise.all(Array.from({ length: PARALLEL }, async () => {
  while (queue.length > 0) {
    const r = await runOne(queue.shift());
    results.push(r);
    process.stdout.write(`${r.ok ? "ok  " : "FAIL"} ${r.name.padEnd(14)} ${(r.ms / 1000).toFixed(1)} s\n`);
    if (!r.ok) process.stdout.write(r.out.split("\n").slice(-30).map((l) => `     | ${l}`).join("\n") + "\n");
  }
}));
const total = Date.now() - started;
const failed = results.filter((r) => !r.ok);
process.stdout.write(`${results.length} benchmarks, ${failed.length} failed, ${(total / 1000).toFixed(1)} s (budget ${BUDGET_MS / 1000} s)\n`);
process.exit(failed.length > 0 || total > BUDGET_MS ? 1 : 0);
