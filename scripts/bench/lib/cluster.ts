/** Real wisp-server / wisp-agent processes for benchmarks (the integration harness) plus an admin API client. @module */
import { readFileSync, writeFileSync } from "node:fs";
import { fromBase64 } from "../../../src/core/encoding.ts";
import { unixFetch } from "../../../src/runtime/node/unix_fetch.ts";
import { AGENT_BIN, type Cluster, newCluster, Proc, SERVER_BIN, startAgent, startServer, waitFor, writeBundle } from "../../../test/integration/_harness.ts";

export type { Cluster };
export { Proc };
/** The tsx launchers in bin/. */
export { AGENT_BIN as AGENT_LAUNCHER, SERVER_BIN as SERVER_LAUNCHER };
export { startAgent, startServer };

export const TD = "example.org";
export const agentIDForToken = (token: string) => `spiffe://${TD}/spire/agent/join_token/${token}`;

export interface BenchClusterOptions {
  /** Server and agent log level; benchmarks default to INFO so logging does not dominate hot paths. */
  logLevel?: "DEBUG" | "INFO" | "WARN";
  agentLogLevel?: "DEBUG" | "INFO" | "WARN";
  /** Extra lines inside the server block (TTLs). */
  extraServer?: string;
  /** Replaces the server's `plugins { ... }` block. */
  serverPlugins?: string;
}

/** A fresh trust domain in a temp dir with configs written, nothing started. */
export async function benchCluster(o: BenchClusterOptions = {}): Promise<Cluster> {
  const c = await newCluster({ keyManager: "disk", agentKeyManager: "memory", ...(o.extraServer ? { extraServer: o.extraServer } : {}) });
  const setLevel = (file: string, level: string) => writeFileSync(file, readFileSync(file, "utf8").replace('log_level = "DEBUG"', `log_level = "${level}"`));
  setLevel(c.serverConf, o.logLevel ?? "INFO");
  setLevel(c.agentConf, o.agentLogLevel ?? o.logLevel ?? "INFO");
  if (o.serverPlugins) {
    const text = readFileSync(c.serverConf, "utf8");
    writeFileSync(c.serverConf, text.slice(0, text.indexOf("plugins {")) + o.serverPlugins + "\n");
  }
  return c;
}

export interface EntrySpec {
  spiffeID: string;
  parentID: string;
  selectors: { type: string; value: string }[];
  x509SVIDTTL?: number;
}

/** SPIRE's protobuf JSON shape of a SPIFFE ID. */
function protoID(id: string): { trust_domain: string; path: string } {
  const u = new URL(id);
  return { trust_domain: u.host, path: u.pathname };
}

/** The admin API on the server's unix socket, called directly (the CLI would add a process start per call). */
export class Admin {
  readonly #f: ReturnType<typeof unixFetch>;
  constructor(socketPath: string) {
    this.#f = unixFetch(socketPath);
  }
  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#f(path, {
      method,
      ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`admin ${method} ${path} answered ${res.status}: ${text}`);
    return JSON.parse(text) as T;
  }
  /** Creates entries in chunks of `chunk`; returns their ids in order. */
  async createEntries(list: EntrySpec[], chunk = 1000): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < list.length; i += chunk) {
      const r = await this.#call<{ results: { status: { status: string; message?: string }; entry?: { id: string } }[] }>("POST", "/entry/v1/entries", {
        entries: list.slice(i, i + chunk).map((e) => ({
          spiffe_id: e.spiffeID,
          parent_id: e.parentID,
          selectors: e.selectors,
          x509_svid_ttl: e.x509SVIDTTL ?? 0,
        })),
      });
      for (const x of r.results) {
        if (!x.entry) throw new Error(`entry create failed: ${JSON.stringify(x.status)}`);
        ids.push(x.entry.id);
      }
    }
    return ids;
  }
  /** BatchUpdateEntry for one entry (every field replaced, as SPIRE without a mask); the revision moves. */
  async updateEntry(id: string, e: EntrySpec & { hint?: string }): Promise<void> {
    const r = await this.#call<{ results: { status: { code: number; message?: string } }[] }>("POST", "/entry.v1.Entry/BatchUpdateEntry", {
      entries: [{
        id,
        spiffe_id: protoID(e.spiffeID),
        parent_id: protoID(e.parentID),
        selectors: e.selectors,
        x509_svid_ttl: e.x509SVIDTTL ?? 0,
        hint: e.hint ?? "",
      }],
    });
    if (r.results[0]?.status.code !== 0) throw new Error(`entry update failed: ${JSON.stringify(r.results[0]?.status)}`);
  }
  async joinToken(ttlSeconds = 3600, alias?: string): Promise<string> {
    const r = await this.#call<{ value: string }>("POST", "/agent/v1/join_tokens", { ttl: ttlSeconds, ...(alias ? { agent_id: alias } : {}) });
    return r.value;
  }
  async rotateCA(): Promise<{ authority_id: string }> {
    return this.#call("POST", "/ca/v1/rotate", {});
  }
  async bundleRoots(): Promise<Uint8Array[]> {
    const b = await this.#call<{ x509_authorities: string[] }>("GET", "/bundle/v1/bundle");
    return b.x509_authorities.map(fromBase64);
  }
  close(): Promise<void> {
    return this.#f.close();
  }
}

/** Waits until `proc`'s output contains a line matching `re` after offset `from`; returns the match. */
export async function waitForOutput(proc: Proc, re: RegExp, from = 0, timeoutMs = 120_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = proc.output.slice(from).match(re);
    if (m) return m;
    if (proc.exited) throw new Error(`process exited while waiting for ${re}: ${proc.output.slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Which executables to run: the tsx launchers in bin/ (default) or bundles; `env` adds e.g. NODE_OPTIONS. */
export interface Binaries {
  server?: string;
  agent?: string;
  env?: Record<string, string>;
  /** Node flags before the script, e.g. --cpu-prof (which NODE_OPTIONS refuses). */
  nodeArgs?: string[];
}

/** Proc runs `node <bin> <args>`; node flags go first by passing them as the "bin". */
function spawnWisp(bin: string, args: string[], b: Binaries): Proc {
  const [first, ...rest] = [...(b.nodeArgs ?? []), bin, ...args];
  return new Proc(first!, rest, b.env ?? {});
}

export async function startServerWith(c: Cluster, b: Binaries): Promise<Proc> {
  if (!b.server && !b.env && !b.nodeArgs) return startServer(c);
  c.server = spawnWisp(b.server ?? SERVER_BIN, ["run", "-config", c.serverConf], b);
  await waitFor("server healthy", async () => {
    if (c.server!.exited) throw new Error(`server exited: ${c.server!.output}`);
    return /Starting Server APIs/.test(c.server!.output) ? true : undefined;
  });
  // The cluster's agents bootstrap securely from this file, as startServer fills it.
  if (c.bundlePath) await writeBundle(c, c.bundlePath);
  return c.server;
}

export async function startAgentWith(c: Cluster, token: string, b: Binaries): Promise<Proc> {
  if (!b.agent && !b.env && !b.nodeArgs) return startAgent(c, token);
  c.agent = spawnWisp(b.agent ?? AGENT_BIN, ["run", "-config", c.agentConf, "-joinToken", token], b);
  await waitFor("agent ready", async () => {
    if (c.agent!.exited) throw new Error(`agent exited: ${c.agent!.output}`);
    return /Starting Workload and SDS APIs/.test(c.agent!.output) ? true : undefined;
  });
  return c.agent;
}
