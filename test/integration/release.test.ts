/** The release tarball (npm run release) unpacked alone in an empty directory: its binaries, checksum and units. */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { freePort, NODE, ROOT, run, type RunResult, tail, tempDir, waitFor } from "./_harness.ts";

const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const NAME = `wisp-${VERSION}-${process.platform}-${process.arch}.tar.gz`;
const TARBALL = join(ROOT, "dist/release", NAME);

let dir: string; // the empty temp dir the release is unpacked in
let rel: string; // <dir>/wisp-<version>
let env: Record<string, string>; // all the environment the binaries get: no node on PATH, nothing from this checkout
let serverSocket: string;
let agentSocket: string;
let server: ChildProcess;
let agent: ChildProcess;
const output = { server: "", agent: "" };

/** Runs bin/<name> of the release with exactly `env`, from the release dir; `asUser` as for the harness's run. */
function runRel(bin: string, args: string[], o: { asUser?: number; cwd?: string } = {}): Promise<RunResult> {
  const cmd = join(rel, bin);
  const [c, a] = o.asUser === undefined ? [cmd, args] : ["/usr/bin/setpriv", [`--reuid=${o.asUser}`, `--regid=${o.asUser}`, "--clear-groups", cmd, ...args]];
  return new Promise((resolve) => {
    const child = spawn(c, a, { cwd: o.cwd ?? rel, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const t = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

function startRel(which: "server" | "agent", args: string[]): ChildProcess {
  const child = spawn(join(rel, "bin", `wisp-${which}`), args, { cwd: rel, env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (d) => (output[which] += d));
  child.stderr!.on("data", (d) => (output[which] += d));
  return child;
}

const exited = (p: ChildProcess) => p.exitCode !== null || p.signalCode !== null;

/** Replaces `from` in a shipped file by `to`, failing when the file no longer has it (the examples changed). */
function edit(file: string, pairs: [string, string][]): void {
  let text = readFileSync(file, "utf8");
  for (const [from, to] of pairs) {
    if (!text.includes(from)) throw new Error(`${file} has no ${JSON.stringify(from)}`);
    text = text.replaceAll(from, to);
  }
  writeFileSync(file, text);
}

test.before(async () => {
  // Reuses the tarball .ci/run built before the suite when it is newer than every input.
  const b = await run(NODE, ["scripts/build_release.mjs", "--if-stale"], { timeoutMs: 600_000 });
  if (b.code !== 0) throw new Error(`build_release failed: ${b.stderr}${b.stdout}`);

  dir = tempDir("wisp-release-");
  const emptyBin = join(dir, "empty-bin");
  mkdirSync(emptyBin);
  env = { PATH: emptyBin, HOME: dir };
  copyFileSync(TARBALL, join(dir, NAME));
  copyFileSync(`${TARBALL}.sha256`, join(dir, `${NAME}.sha256`));
  const x = await run("tar", ["-xzf", NAME], { cwd: dir });
  if (x.code !== 0) throw new Error(`tar -xzf failed: ${x.stderr}`);
  rel = join(dir, `wisp-${VERSION}`);

  // The shipped examples, with this test's ports and socket paths.
  const port = await freePort();
  serverSocket = join(dir, "server/private/api.sock");
  agentSocket = join(dir, "agent/public/api.sock");
  edit(join(rel, "conf/server/server.conf"), [
    ['bind_port = "8081"', `bind_port = "${port}"`],
    ['"/tmp/wisp-server/private/api.sock"', JSON.stringify(serverSocket)],
  ]);
  edit(join(rel, "conf/agent/agent.conf"), [
    ['server_port = "8081"', `server_port = "${port}"`],
    ['socket_path = "/tmp/wisp-agent/public/api.sock"', `socket_path = ${JSON.stringify(agentSocket)}`],
  ]);

  server = startRel("server", ["run", "-config", "conf/server/server.conf"]);
  await waitFor("release server healthy", async () => {
    if (exited(server)) throw new Error(`server exited: ${tail(output.server)}`);
    return (await runRel("bin/wisp-server", ["healthcheck", "-socketPath", serverSocket])).code === 0 ? true : undefined;
  });
  const t = await runRel("bin/wisp-server", ["token", "generate", "-socketPath", serverSocket, "-spiffeID", "spiffe://example.org/node1", "-output", "json"]);
  if (t.code !== 0) throw new Error(`token generate failed: ${t.stderr}${t.stdout}`);
  const token = (JSON.parse(t.stdout) as { value: string }).value;
  agent = startRel("agent", ["run", "-config", "conf/agent/agent.conf", "-joinToken", token]);
  await waitFor("release agent healthy", async () => {
    if (exited(agent)) throw new Error(`agent exited: ${tail(output.agent)}`);
    return (await runRel("bin/wisp-agent", ["healthcheck", "-socketPath", agentSocket])).code === 0 ? true : undefined;
  });
});

test.after(async () => {
  for (const p of [agent, server]) {
    if (p && !exited(p)) {
      const gone = new Promise((r) => p.once("exit", r));
      p.kill("SIGKILL");
      await gone;
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the tarball has SPIRE's shape: bin/ with two single executables, conf/, systemd units", () => {
  // .data/ is what the running server and agent keep (the example configs' data_dir is relative).
  const list = (d: string): string[] =>
    readdirSync(join(rel, d), { withFileTypes: true }).filter((e) => e.name !== ".data").flatMap((
      e,
    ) => (e.isDirectory() ? list(join(d, e.name)) : [join(d, e.name)]));
  assert.equal(list(".").sort(), [
    "README.md",
    "bin/wisp-agent",
    "bin/wisp-server",
    "conf/agent/agent.conf",
    "conf/server/server.conf",
    "systemd/agent.conf",
    "systemd/server.conf",
    "systemd/wisp-agent.service",
    "systemd/wisp-server.service",
  ]);
  assert.is(statSync(join(rel, "bin/wisp-server")).mode & 0o777, 0o755);
  assert.is(statSync(join(rel, "bin/wisp-agent")).mode & 0o777, 0o755);
  // Nothing above the unpacked release could lend the binaries a package.
  for (let d = dir; d !== dirname(d); d = dirname(d)) assert.not.ok(existsSync(join(d, "node_modules")), `${d}/node_modules exists`);
});

test("sha256sum -c accepts the checksum file, and refuses it for a changed tarball", async () => {
  const ok = await run("sha256sum", ["-c", `${NAME}.sha256`], { cwd: dir });
  assert.is(ok.code, 0, ok.stderr);
  assert.is(ok.stdout, `${NAME}: OK\n`);
  writeFileSync(join(dir, NAME), "not the release\n", { flag: "a" });
  const bad = await run("sha256sum", ["-c", `${NAME}.sha256`], { cwd: dir, env: { LC_ALL: "C" } });
  assert.is(bad.code, 1);
  assert.is(bad.stdout, `${NAME}: FAILED\n`);
});

test("the binaries load libsql and koffi from their embedded copies and nothing from this checkout", () => {
  const serverMaps = readFileSync(`/proc/${server.pid}/maps`, "utf8");
  const agentMaps = readFileSync(`/proc/${agent.pid}/maps`, "utf8");
  assert.match(serverMaps, /\/wisp-libsql-[^/\s]+\/libsql\.node \(deleted\)/);
  assert.match(agentMaps, /\/wisp-koffi-[^/\s]+\/koffi\.node \(deleted\)/);
  for (const maps of [serverMaps, agentMaps]) {
    assert.not.match(maps, /node_modules/);
    assert.not.ok(maps.includes(ROOT), "a file of this checkout is mapped");
  }
  assert.match(output.server, /Starting Server APIs/);
  assert.match(output.agent, /Starting Workload and SDS APIs/);
});

test("an entry registered with the release's server CLI: uid 1000 fetches it with the release's agent CLI, openssl verifies it", async () => {
  const e = await runRel("bin/wisp-server", [
    "entry",
    "create",
    "-socketPath",
    serverSocket,
    "-parentID",
    "spiffe://example.org/node1",
    "-spiffeID",
    "spiffe://example.org/web",
    "-selector",
    "unix:uid:1000",
  ]);
  assert.is(e.code, 0, e.stderr);
  assert.match(e.stdout, /SPIFFE ID\s+: spiffe:\/\/example.org\/web/);
  const out = join(dir, "svid");
  let last: RunResult | undefined;
  const r = await waitFor("SVID for uid 1000", async () => {
    last = await runRel("bin/wisp-agent", ["api", "fetch", "x509", "-socketPath", agentSocket, "-write", out], { asUser: 1000, cwd: dir });
    return last.code === 0 ? last : undefined;
  }).catch((err: Error) => {
    throw new Error(`${err.message}; last try: ${JSON.stringify(last)}\nagent: ${tail(output.agent)}`);
  });
  assert.match(r.stdout, /SPIFFE ID:\t\tspiffe:\/\/example.org\/web/);
  const v = await run("openssl", ["verify", "-CAfile", join(out, "bundle.0.pem"), join(out, "svid.0.pem")]);
  assert.is(v.stdout.trim(), `${join(out, "svid.0.pem")}: OK`, v.stderr);
  const san = await run("openssl", ["x509", "-in", join(out, "svid.0.pem"), "-noout", "-ext", "subjectAltName"]);
  assert.match(san.stdout, /URI:spiffe:\/\/example.org\/web/);
});

test("the configs the systemd units read are valid", async () => {
  const s = await runRel("bin/wisp-server", ["validate", "-config", "systemd/server.conf"]);
  assert.is(s.stdout, "SPIRE server configuration file is valid.\n", s.stderr);
  const a = await runRel("bin/wisp-agent", ["validate", "-config", "systemd/agent.conf"]);
  assert.is(a.stdout, "SPIRE agent configuration file is valid.\n", a.stderr);
});

test("systemd-analyze verify accepts both units (ExecStart pointed at the unpacked binaries)", async () => {
  const units = join(dir, "units");
  mkdirSync(units);
  chmodSync(units, 0o755);
  for (const u of ["wisp-server.service", "wisp-agent.service"]) {
    const text = readFileSync(join(rel, "systemd", u), "utf8");
    assert.ok(text.includes("ExecStart=/opt/wisp/bin/"), u);
    writeFileSync(join(units, u), text.replaceAll("/opt/wisp/", `${rel}/`));
  }
  const v = await run("systemd-analyze", ["verify", join(units, "wisp-server.service"), join(units, "wisp-agent.service")]);
  assert.is(v.code, 0, v.stderr + v.stdout);
  assert.is(v.stderr + v.stdout, "");
});

test("both release binaries exit 0 on SIGTERM", async () => {
  for (const [p, which, line] of [[agent, "agent", /Agent stopped gracefully/], [server, "server", /Server stopped gracefully/]] as const) {
    const code = new Promise<number | null>((r) => p.once("exit", (c) => r(c)));
    process.kill(p.pid!, "SIGTERM");
    assert.is(await code, 0, tail(output[which]));
    assert.match(output[which], line);
  }
});

test.run();
