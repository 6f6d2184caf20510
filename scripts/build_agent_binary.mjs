#!/usr/bin/env node
/** Builds dist/wisp-agent-linux-x64, the single-file agent for edge nodes (scripts/build_sea.mjs says how). @module */
import { join } from "node:path";
import { buildSEA, ROOT } from "./build_sea.mjs";

try {
  await buildSEA({ name: "wisp-agent", output: join(ROOT, `dist/wisp-agent-${process.platform}-${process.arch}`) });
} catch (err) {
  process.stderr.write(`Error: ${err.message}\n`);
  process.exitCode = 1;
}
