/**
 * Several real wisp-server processes on one throwaway PostgreSQL (each with its own data dir and disk KeyManager),
 * and agents listing every server: the high-availability layout of the multi-server and database-outage tests.
 * @module
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type PGInstance, startPostgres, type StartPostgresOptions } from "../_pg/postgres.ts";
import { AGENT_BIN, freePort, Proc, SERVER_BIN, tempDir, waitFor, wispAgent, wispServer } from "../integration/_harness.ts";

export interface PGServer {
  name: string;
  port: number;
  socket: string;
  conf: string;
  dataDir: string;
  healthPort: number;
  proc?: Proc;
}

export interface PGAgent {
  conf: string;
  socket: string;
  dataDir: string;
  proc?: Proc;
}

export interface PGCluster {
  pg: PGInstance;
  dir: string;
  servers: PGServer[];
  /** Starts server `i` and waits until its admin healthcheck passes. */
  startServer(i: number): Promise<Proc>;
  /** Writes an agent config listing `servers` (indexes, default all, in order) and starts it with `token`. */
  startAgent(name: string, token: string, o?: { servers?: number[]; waitHealthy?: boolean }): Promise<PGAgent>;
  /** A join token generated through server `i`. */
  joinToken(i: number, alias?: string): Promise<string>;
  cleanup(): Promise<void>;
}

/**
 * Starts PostgreSQL and writes `n` server configs; `extraServer` goes inside every server block, `pg` says how to
 * start PostgreSQL.
 */
export async function newPGCluster(n: number, o: { extraServer?: string; pg?: StartPostgresOptions } = {}): Promise<PGCluster> {
  const pg = await startPostgres(o.pg);
  const dir = tempDir("wisp-ha-");
  const servers: PGServer[] = [];
  for (let i = 0; i < n; i++) {
    const name = String.fromCharCode(97 + i);
    const dataDir = join(dir, `server-${name}`);
    mkdirSync(dataDir, { recursive: true });
    const s: PGServer = {
      name,
      port: await freePort(),
      socket: join(dataDir, "api.sock"),
      conf: join(dir, `server-${name}.conf`),
      dataDir,
      healthPort: await freePort(),
    };
    writeFileSync(
      s.conf,
      `
server {
  bind_address = "127.0.0.1"
  bind_port = "${s.port}"
  socket_path = "${s.socket}"
  trust_domain = "example.org"
  data_dir = "${dataDir}"
  log_level = "DEBUG"
  health_checks {
    listener_enabled = true
    bind_address = "127.0.0.1"
    bind_port = "${s.healthPort}"
  }
  ${o.extraServer ?? ""}
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "postgres"
      connection_string = "${pg.connectionString}"
    }
  }
  KeyManager "disk" {
    plugin_data {}
  }
  NodeAttestor "join_token" {
    plugin_data {}
  }
}
`,
    );
    servers.push(s);
  }
  const agents: PGAgent[] = [];
  const cluster: PGCluster = {
    pg,
    dir,
    servers,
    async startServer(i) {
      const s = servers[i]!;
      s.proc = new Proc(SERVER_BIN, ["run", "-config", s.conf]);
      await waitFor(`server ${s.name} healthy`, async () => {
        if (s.proc!.exited) throw new Error(`server ${s.name} exited: ${s.proc!.output}`);
        return (await wispServer(["healthcheck", "-socketPath", s.socket])).code === 0 ? true : undefined;
      });
      return s.proc;
    },
    async startAgent(name, token, ao = {}) {
      const dataDir = join(dir, `agent-${name}`);
      const socket = join(dataDir, "public", "api.sock");
      const conf = join(dir, `agent-${name}.conf`);
      const list = (ao.servers ?? servers.map((_, i) => i)).map((i) => `"127.0.0.1:${servers[i]!.port}"`).join(", ");
      // Secure bootstrap, as an operator does it: the bundle from any running server (they share the datastore).
      const bundlePath = join(dir, `agent-${name}.bundle.crt`);
      const up = servers.find((x) => x.proc && !x.proc.exited);
      if (!up) throw new Error("no running server to read the bootstrap bundle from");
      const bundle = await wispServer(["bundle", "show", "-socketPath", up.socket]);
      if (bundle.code !== 0) throw new Error(`bundle show failed: ${bundle.stderr}`);
      writeFileSync(bundlePath, bundle.stdout);
      writeFileSync(
        conf,
        `
agent {
  data_dir = "${dataDir}"
  log_level = "DEBUG"
  server_address = [${list}]
  socket_path = "${socket}"
  trust_domain = "example.org"
  trust_bundle_path = "${bundlePath}"
}
plugins {
  NodeAttestor "join_token" {
    plugin_data {}
  }
  KeyManager "disk" {
    plugin_data {}
  }
  WorkloadAttestor "unix" {
    plugin_data {}
  }
}
`,
      );
      const a: PGAgent = { conf, socket, dataDir, proc: new Proc(AGENT_BIN, ["run", "-config", conf, "-joinToken", token]) };
      agents.push(a);
      if (ao.waitHealthy !== false) {
        await waitFor(`agent ${name} healthy`, async () => {
          if (a.proc!.exited) throw new Error(`agent ${name} exited: ${a.proc!.output}`);
          return (await wispAgent(["healthcheck", "-socketPath", socket])).code === 0 ? true : undefined;
        });
      }
      return a;
    },
    async joinToken(i, alias) {
      const r = await wispServer(["token", "generate", "-socketPath", servers[i]!.socket, "-output", "json", ...(alias ? ["-spiffeID", alias] : [])]);
      if (r.code !== 0) throw new Error(`token generate failed: ${r.stderr}${r.stdout}`);
      return (JSON.parse(r.stdout) as { value: string }).value;
    },
    async cleanup() {
      await Promise.all(agents.map((a) => a.proc?.stop("SIGKILL")));
      await Promise.all(servers.map((s) => s.proc?.stop("SIGKILL")));
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
