/** Real-process harness for integration tests: temp dirs, free ports, wisp-server/wisp-agent processes, CLI runs. @module */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "../..");
export const SERVER_BIN = join(ROOT, "bin/wisp-server.mjs");
export const AGENT_BIN = join(ROOT, "bin/wisp-agent.mjs");
/** The Deno binary the project installs (devDependency `deno`). */
export const DENO = join(ROOT, "node_modules/.bin/deno");
/** Node: this process's binary, or the `node` on PATH when this test file runs under Deno (whose execPath is deno). */
export const NODE = "Deno" in globalThis ? "node" : process.execPath;

/** The runtime a wisp process runs on. */
export type Runtime = "node" | "deno";
/** The runtime this test file runs on: wisp processes it starts run on the same one unless a test says otherwise. */
export const TEST_RUNTIME: Runtime = "Deno" in globalThis ? "deno" : "node";

/**
 * The command line that starts `bin` (SERVER_BIN, AGENT_BIN or another bin/<name>.mjs launcher) on `runtime`. Node
 * runs the launcher, which registers tsx; Deno runs TypeScript itself, so it starts src/bin/<name>.ts directly.
 */
export function binCommand(bin: string, runtime: Runtime = TEST_RUNTIME): [string, string[]] {
  if (runtime === "node") return [NODE, [bin]];
  const name = /[\\/]bin[\\/]([^\\/]+)\.mjs$/.exec(bin)?.[1];
  if (name === undefined) throw new Error(`"${bin}" is not a bin/<name>.mjs launcher`);
  return [DENO, ["run", "-A", join(ROOT, "src/bin", `${name}.ts`)]];
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; `asUser` runs it through setpriv as that uid/gid with no groups. */
export function run(
  cmd: string,
  args: string[],
  o: { asUser?: number; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const [c, a] = o.asUser === undefined ? [cmd, args] : ["setpriv", [`--reuid=${o.asUser}`, `--regid=${o.asUser}`, "--clear-groups", cmd, ...args]];
  return new Promise((resolvePromise) => {
    const child = spawn(c, a, { cwd: o.cwd ?? ROOT, env: { ...process.env, ...o.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const t = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs ?? 60_000);
    child.on("close", (code) => {
      clearTimeout(t);
      resolvePromise({ code: code ?? -1, stdout, stderr });
    });
  });
}

export function wispServer(args: string[], o: Parameters<typeof run>[2] & { runtime?: Runtime } = {}): Promise<RunResult> {
  const [cmd, pre] = binCommand(SERVER_BIN, o.runtime);
  return run(cmd, [...pre, ...args], o);
}

export function wispAgent(args: string[], o: Parameters<typeof run>[2] & { runtime?: Runtime } = {}): Promise<RunResult> {
  const [cmd, pre] = binCommand(AGENT_BIN, o.runtime);
  return run(cmd, [...pre, ...args], o);
}

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export function tempDir(prefix = "wisp-it-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  // Workloads run as other uids must be able to reach sockets and write SVIDs below it.
  chmodSync(d, 0o777);
  return d;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** The last `n` lines of a process's output, for failure messages. */
export function tail(output: string, n = 40): string {
  return output.trimEnd().split("\n").slice(-n).join("\n");
}

/** A long-running wisp process whose output is kept for assertions and failure reports. */
export class Proc {
  readonly child: ChildProcess;
  output = "";
  constructor(bin: string, args: string[], env: Record<string, string> = {}, runtime: Runtime = TEST_RUNTIME) {
    const [cmd, pre] = binCommand(bin, runtime);
    this.child = spawn(cmd, [...pre, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (d) => (this.output += d));
    this.child.stderr!.on("data", (d) => (this.output += d));
  }
  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }
  /** Resolves with the exit code; rejects with the output's tail when the process is still running after `timeoutMs`. */
  waitExit(timeoutMs = 120_000): Promise<number | null> {
    if (this.exited) return Promise.resolve(this.child.exitCode);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`process still running after ${timeoutMs / 1000} s:\n${tail(this.output)}`)), timeoutMs);
      this.child.once("exit", (code) => {
        clearTimeout(t);
        resolve(code);
      });
    });
  }
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.exited) return this.child.exitCode;
    const done = this.waitExit();
    // process.kill, not child.kill: after child.kill() Deno's child_process reports (null, signal) even for a child
    // that handled the signal and exited 0.
    process.kill(this.child.pid!, signal);
    const t = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    const code = await done;
    clearTimeout(t);
    return code;
  }
}

export interface Cluster {
  dir: string;
  /**
   * The agent's bootstrap bundle file (`trust_bundle_path`), written by startServer from `bundle show`; absent for a
   * cluster made with `bootstrap: "insecure"`.
   */
  bundlePath?: string;
  port: number;
  serverSocket: string;
  agentSocket: string;
  serverConf: string;
  agentConf: string;
  server?: Proc;
  agent?: Proc;
  /** Extra environment of wisp-server processes started by startServer (e.g. AWS credentials). */
  serverEnv?: Record<string, string>;
  cleanup(): Promise<void>;
}

/** Writes a server.conf and an agent.conf for a fresh trust domain in a temp dir (SQLite, self-signed CA). */
export async function newCluster(o: {
  keyManager?: "memory" | "disk" | "aws_kms";
  agentKeyManager?: "memory" | "disk";
  extraServer?: string;
  /** Extra keys inside the agent block, e.g. a health_checks block. */
  extraAgent?: string;
  /** Body of the server KeyManager's plugin_data block. */
  keyManagerData?: string;
  /** More server plugin blocks, e.g. an UpstreamAuthority. */
  extraServerPlugins?: string;
  serverEnv?: Record<string, string>;
  /**
   * How the agent trusts the server at first contact: "bundle" (default) is SPIRE's secure bootstrap from
   * `trust_bundle_path`, which startServer fills with the server's `bundle show`; "insecure" is insecure_bootstrap,
   * for the tests that are about it.
   */
  bootstrap?: "bundle" | "insecure";
  /** Default "example.org"; federation tests run two trust domains side by side. */
  trustDomain?: string;
} = {}): Promise<Cluster> {
  const td = o.trustDomain ?? "example.org";
  const dir = tempDir();
  const port = await freePort();
  const serverSocket = join(dir, "server", "api.sock");
  const agentSocket = join(dir, "public", "api.sock");
  const serverConf = join(dir, "server.conf");
  const agentConf = join(dir, "agent.conf");
  const bundlePath = o.bootstrap === "insecure" ? undefined : join(dir, "bootstrap.crt");
  writeFileSync(
    serverConf,
    `
server {
  bind_address = "127.0.0.1"
  bind_port = "${port}"
  socket_path = "${serverSocket}"
  trust_domain = "${td}"
  data_dir = "${join(dir, "server")}"
  log_level = "DEBUG"
  ${o.extraServer ?? ""}
}
plugins {
  KeyManager "${o.keyManager ?? "disk"}" {
    plugin_data {${o.keyManagerData ?? ""}}
  }
  NodeAttestor "join_token" {
    plugin_data {}
  }
  ${o.extraServerPlugins ?? ""}
}
`,
  );
  writeFileSync(
    agentConf,
    `
agent {
  data_dir = "${join(dir, "agent")}"
  log_level = "DEBUG"
  server_address = "127.0.0.1"
  server_port = "${port}"
  socket_path = "${agentSocket}"
  trust_domain = "${td}"
  ${bundlePath ? `trust_bundle_path = "${bundlePath}"` : "insecure_bootstrap = true"}
  ${o.extraAgent ?? ""}
}
plugins {
  NodeAttestor "join_token" {
    plugin_data {}
  }
  KeyManager "${o.agentKeyManager ?? "disk"}" {
    plugin_data {}
  }
  WorkloadAttestor "unix" {
    plugin_data {}
  }
}
`,
  );
  const c: Cluster = {
    dir,
    port,
    serverSocket,
    agentSocket,
    serverConf,
    agentConf,
    ...(bundlePath ? { bundlePath } : {}),
    ...(o.serverEnv ? { serverEnv: o.serverEnv } : {}),
    async cleanup() {
      await c.agent?.stop();
      await c.server?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return c;
}

export async function startServer(c: Cluster): Promise<Proc> {
  c.server = new Proc(SERVER_BIN, ["run", "-config", c.serverConf], c.serverEnv);
  await waitFor("server healthy", async () => {
    if (c.server!.exited) throw new Error(`server exited: ${c.server!.output}`);
    const r = await wispServer(["healthcheck", "-socketPath", c.serverSocket]);
    return r.code === 0 ? true : undefined;
  }).catch((err: Error) => {
    throw new Error(`${err.message}\n--- wisp-server output (last lines) ---\n${tail(c.server!.output)}`, { cause: err });
  });
  if (c.bundlePath) await writeBundle(c, c.bundlePath);
  return c.server;
}

/** Writes the server's current bundle (`bundle show`, PEM) to `path`, as an operator hands it to agents. */
export async function writeBundle(c: Cluster, path: string, runtime?: Runtime): Promise<void> {
  const r = await wispServer(["bundle", "show", "-socketPath", c.serverSocket], runtime ? { runtime } : {});
  if (r.code !== 0 || !r.stdout.includes("-----BEGIN CERTIFICATE-----")) throw new Error(`bundle show failed: ${r.stderr}${r.stdout}`);
  writeFileSync(path, r.stdout);
}

export async function joinToken(c: Cluster, alias?: string): Promise<string> {
  const r = await wispServer(["token", "generate", "-socketPath", c.serverSocket, "-output", "json", ...(alias ? ["-spiffeID", alias] : [])]);
  if (r.code !== 0) throw new Error(`token generate failed: ${r.stderr}${r.stdout}`);
  return (JSON.parse(r.stdout) as { value: string }).value;
}

export async function startAgent(c: Cluster, token: string, o: { runtime?: Runtime } = {}): Promise<Proc> {
  c.agent = new Proc(AGENT_BIN, ["run", "-config", c.agentConf, "-joinToken", token], {}, o.runtime);
  await waitFor("agent healthy", async () => {
    if (c.agent!.exited) throw new Error(`agent exited: ${c.agent!.output}`);
    const r = await wispAgent(["healthcheck", "-socketPath", c.agentSocket]);
    return r.code === 0 ? true : undefined;
  }).catch((err: Error) => {
    throw new Error(`${err.message}\n--- wisp-agent output (last lines) ---\n${tail(c.agent!.output)}`, { cause: err });
  });
  return c.agent;
}

/**
 * Writes a second agent.conf for cluster `c`, with its own data dir and socket and `agentKeys` (the bootstrap keys, for
 * one) in the agent block; returns its paths.
 */
export function agentConf(c: Cluster, name: string, agentKeys: string, keyManagerData = ""): { conf: string; socket: string; dataDir: string } {
  const dataDir = join(c.dir, name);
  const socket = join(c.dir, `${name}.sock`);
  const conf = join(c.dir, `${name}.conf`);
  writeFileSync(
    conf,
    `
agent {
  data_dir = "${dataDir}"
  log_level = "DEBUG"
  server_address = "127.0.0.1"
  server_port = "${c.port}"
  socket_path = "${socket}"
  trust_domain = "example.org"
  ${agentKeys}
}
plugins {
  NodeAttestor "join_token" {
    plugin_data {}
  }
  KeyManager "disk" {
    plugin_data {${keyManagerData}}
  }
  WorkloadAttestor "unix" {
    plugin_data {}
  }
}
`,
  );
  return { conf, socket, dataDir };
}
