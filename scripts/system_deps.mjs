#!/usr/bin/env node
// The Debian packages the test suite needs besides Node, in one place: scripts/run_tests.mjs calls ensureSystemDeps()
// before any test, so `npm test` on a fresh Debian machine with only Node and git either installs them (as root,
// saying what it installs, as .ci/run does) or stops at once with one message naming the packages and the command.
// Usage: node scripts/system_deps.mjs [--check]   (--check: report only, exit 1 when something is missing)
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const onPath = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
// Debian's python, where Debian's python3-* packages install (a pyenv python3 on PATH would not see them).
const pythonHas = (mods) => spawnSync("/usr/bin/python3", ["-c", mods.map((m) => `import ${m}`).join(";")], { stdio: "ignore" }).status === 0;
const hasInitdb = () => existsSync("/usr/lib/postgresql") && readdirSync("/usr/lib/postgresql").some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`));

/** What each package is for, and how to tell it is there. */
export const SYSTEM_DEPS = [
  { pkg: "openssl", why: "openssl verify / s_client checks of issued SVIDs", present: () => onPath("openssl") },
  { pkg: "util-linux", why: "setpriv runs workloads as other uids", present: () => onPath("setpriv") && onPath("runuser") },
  { pkg: "python3-grpcio", why: "the independent Python Workload API client", present: () => pythonHas(["grpc"]) },
  { pkg: "python3-grpc-tools", why: "generates that client's stubs from the upstream proto", present: () => pythonHas(["grpc_tools.protoc"]) },
  { pkg: "chromium", why: "the console's browser tests (headless, driven by puppeteer-core)", present: () => onPath("chromium") },
  { pkg: "systemd", why: "systemd-analyze verify checks the release's systemd units", present: () => onPath("systemd-analyze") },
  { pkg: "postgresql", why: "the PostgreSQL datastore tests start a throwaway server (initdb, pg_ctl)", present: hasInitdb },
];

export function missingSystemDeps() {
  return SYSTEM_DEPS.filter((d) => !d.present());
}

/** Installs what is missing when it can (root and apt-get), else throws one message naming packages and command. */
export function ensureSystemDeps({ log = (s) => process.stdout.write(s + "\n") } = {}) {
  const missing = missingSystemDeps();
  if (missing.length === 0) return;
  const pkgs = missing.map((d) => d.pkg);
  const list = missing.map((d) => `  ${d.pkg}: ${d.why}`).join("\n");
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!isRoot || !onPath("apt-get")) {
    throw new Error(
      `the tests need these Debian packages, which are not installed:\n${list}\n` +
        `install them, then run npm test again:\n  sudo apt-get update && sudo apt-get install -y ${pkgs.join(" ")}`,
    );
  }
  log(`Installing the Debian packages the tests need:\n${list}\n  apt-get install -y ${pkgs.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { stdio: ["ignore", "ignore", "inherit"], env });
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...pkgs], { stdio: ["ignore", "ignore", "inherit"], env });
  const still = missingSystemDeps();
  if (still.length > 0) throw new Error(`apt-get finished but these are still missing: ${still.map((d) => d.pkg).join(" ")}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--check")) {
    const missing = missingSystemDeps();
    for (const d of SYSTEM_DEPS) process.stdout.write(`${missing.includes(d) ? "missing" : "ok     "} ${d.pkg}\n`);
    process.exit(missing.length ? 1 : 0);
  }
  try {
    ensureSystemDeps();
  } catch (err) {
    process.stderr.write(`Error: ${err.message}\n`);
    process.exit(1);
  }
}
