#!/usr/bin/env node
/** `npm run release`: dist/release/wisp-<version>-linux-x64.tar.gz and its .sha256, shaped like a SPIRE release. @module */
// SPIRE ships spire-<version>-linux-amd64-musl.tar.gz holding spire-<version>/{bin,conf}. This tarball holds
//   wisp-<version>/bin/wisp-server, bin/wisp-agent   single executables (scripts/build_sea.mjs): no Node, no node_modules
//   wisp-<version>/conf/server/server.conf, conf/agent/agent.conf   the commented examples, runnable from that dir
//   wisp-<version>/systemd/   hardened units and the configs they read (/etc/wisp/server.conf, /etc/wisp/agent.conf)
//   wisp-<version>/README.md
// The .sha256 file is in `sha256sum` format, so `sha256sum -c wisp-<version>-linux-x64.tar.gz.sha256` checks it.
// Entries are sorted, owned by 0:0 and dated at the last commit (or SOURCE_DATE_EPOCH), and gzip stores no time, so
// two builds of one commit differ only where the binaries do.
// Usage: node scripts/build_release.mjs [--if-stale]
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, createReadStream, createWriteStream, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { fileURLToPath } from "node:url";
import { buildSEA, ROOT } from "./build_sea.mjs";

export const RELEASE_DIR = join(ROOT, "dist/release");
const VERSION = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
// SPIRE says amd64; Node (and so this binary's name elsewhere, dist/wisp-agent-linux-x64) says x64.
export const RELEASE_NAME = `wisp-${VERSION}-${process.platform}-${process.arch}`;
export const TARBALL = join(RELEASE_DIR, `${RELEASE_NAME}.tar.gz`);

/** Files copied into the tarball: [source in this checkout, path under wisp-<version>/]. */
const FILES = [
  ["conf/server.conf", "conf/server/server.conf"],
  ["conf/agent.conf", "conf/agent/agent.conf"],
  ["deploy/systemd/wisp-server.service", "systemd/wisp-server.service"],
  ["deploy/systemd/wisp-agent.service", "systemd/wisp-agent.service"],
  ["deploy/systemd/server.conf", "systemd/server.conf"],
  ["deploy/systemd/agent.conf", "systemd/agent.conf"],
  ["README.md", "README.md"],
];

/** Everything the release is built from: `--if-stale` rebuilds only when one of them is newer than the tarball. */
const RELEASE_INPUTS = ["src", "scripts/build_sea.mjs", "scripts/build_release.mjs", "package.json", "package-lock.json", ...FILES.map(([src]) => src)];

function newestMtime(p) {
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(p).reduce((n, e) => Math.max(n, newestMtime(join(p, e))), st.mtimeMs);
}

/** Whether the tarball and its checksum exist and are newer than every input. */
export function releaseIsFresh() {
  try {
    const built = Math.min(statSync(TARBALL).mtimeMs, statSync(`${TARBALL}.sha256`).mtimeMs);
    return RELEASE_INPUTS.every((p) => newestMtime(join(ROOT, p)) <= built);
  } catch {
    return false;
  }
}

const log = (s) => process.stdout.write(s + "\n");

function sourceDateEpoch() {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH);
  try {
    return Number(execFileSync("git", ["log", "-1", "--format=%ct"], { cwd: ROOT, encoding: "utf8" }).trim());
  } catch {
    return Math.floor(Date.now() / 1000);
  }
}

async function sha256(file) {
  const h = createHash("sha256");
  await pipeline(createReadStream(file), h);
  return h.digest("hex");
}

export async function buildRelease() {
  const t0 = performance.now();
  const top = `wisp-${VERSION}`;
  const stage = join(RELEASE_DIR, top);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(join(stage, "bin"), { recursive: true });
  for (const name of ["wisp-server", "wisp-agent"]) await buildSEA({ name, output: join(stage, "bin", name), log });
  for (const [src, dest] of FILES) {
    mkdirSync(join(stage, dest, ".."), { recursive: true });
    copyFileSync(join(ROOT, src), join(stage, dest));
    chmodSync(join(stage, dest), 0o644);
  }

  const t1 = performance.now();
  rmSync(TARBALL, { force: true });
  const tar = spawn("tar", [
    "--create",
    "--file=-",
    "--sort=name",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    `--mtime=@${sourceDateEpoch()}`,
    "--mode=go-w",
    "--format=gnu",
    "-C",
    RELEASE_DIR,
    top,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  let tarErr = "";
  tar.stderr.on("data", (d) => (tarErr += d));
  const tarExit = new Promise((resolve) => tar.once("close", resolve));
  await pipeline(tar.stdout, createGzip(), createWriteStream(TARBALL, { mode: 0o644 }));
  const code = await tarExit;
  if (code !== 0) throw new Error(`tar failed (exit ${code}): ${tarErr}`);
  rmSync(stage, { recursive: true, force: true });

  const sumFile = `${TARBALL}.sha256`;
  writeFileSync(sumFile, `${await sha256(TARBALL)}  ${basename(TARBALL)}\n`);
  const mib = (statSync(TARBALL).size / 1024 / 1024).toFixed(1);
  log(`${relative(ROOT, TARBALL)}  ${mib} MiB  tar+gzip ${(performance.now() - t1).toFixed(0)} ms (total ${(performance.now() - t0).toFixed(0)} ms)`);
  log(`${relative(ROOT, sumFile)}`);
  return TARBALL;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    // --if-stale: what test/integration/release.test.ts runs, so it reuses the tarball .ci/run built before `npm test`.
    if (process.argv.includes("--if-stale") && releaseIsFresh()) log(`${relative(ROOT, TARBALL)} is up to date`);
    else await buildRelease();
  } catch (err) {
    process.stderr.write(`Error: ${err.message}\n`);
    process.exit(1);
  }
}
