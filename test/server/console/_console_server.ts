/** A real wisp server in this process (SQLite file, memory keys, real listeners) with its console on, for console tests. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Logger, type LogRecord, newLogger } from "../../../src/core/log/logger.ts";
import { Registry } from "../../../src/core/metrics/registry.ts";
import { type Clock, systemClock } from "../../../src/core/ports/clock.ts";
import * as spiffeid from "../../../src/core/spiffeid/mod.ts";
import { serveGRPC } from "../../../src/runtime/node/grpc_server.ts";
import { nodeHTTPServe } from "../../../src/runtime/node/http_serve.ts";
import { SQLiteDriver } from "../../../src/runtime/node/sqlite_driver.ts";
import { SQLStore } from "../../../src/server/datastore/sql/sql_store.ts";
import { MemoryKeyManager } from "../../../src/server/keymanager/memory.ts";
import { Server } from "../../../src/server/server.ts";
import type { UpstreamAuthority } from "../../../src/server/upstreamauthority/upstream_authority.ts";

const HOUR = 3_600_000;

export interface ConsoleServer {
  dir: string;
  socketPath: string;
  ds: SQLStore;
  agentAPIPort: number;
  consoleURL: string;
  logs: LogRecord[];
  stop(): Promise<void>;
}

export async function startConsoleServer(o: {
  bindAddress?: string;
  adminIDs?: string[];
  clock?: Clock;
  upstream?: (clock: Clock, logger: Logger) => Promise<UpstreamAuthority>;
  caRotateInterval?: number;
} = {}): Promise<ConsoleServer> {
  const clock = o.clock ?? systemClock;
  const dir = mkdtempSync(join(tmpdir(), "wisp-console-"));
  const ds = await SQLStore.open({ driver: await SQLiteDriver.open(join(dir, "datastore.sqlite3")), clock });
  const logs: LogRecord[] = [];
  const logger = newLogger({ level: "debug", sink: (r) => logs.push(r) });
  const socketPath = join(dir, "api.sock");
  let ready!: (i: { agentAPIPort: number; consoleURL?: string | undefined }) => void;
  const up = new Promise<{ agentAPIPort: number; consoleURL?: string | undefined }>((r) => (ready = r));
  const server = new Server({
    options: {
      trustDomain: spiffeid.trustDomainFromString("example.org"),
      bindAddress: "127.0.0.1",
      bindPort: 0,
      socketPath,
      caTTL: 24 * HOUR,
      defaultX509SVIDTTL: HOUR,
      agentTTL: HOUR,
      console: { bindAddress: o.bindAddress ?? "127.0.0.1", bindPort: 0 },
      adminIDs: o.adminIDs ?? [],
      consoleChangePollMs: 200,
      ...(o.caRotateInterval ? { caRotateInterval: o.caRotateInterval } : {}),
    },
    ds,
    keyManager: new MemoryKeyManager(),
    http: nodeHTTPServe,
    // SPIRE's API on the admin socket, which the CLI (x509 mint in the console tests) speaks. The admin socket serves
    // callers whose credentials cannot be read, so no peer-credential reader is needed (none loads on Deno here).
    serveGRPC: (opts) =>
      serveGRPC({
        ...opts,
        peerCred: () => {
          throw new Error("peer credentials are not read by this test server");
        },
      }),
    clock,
    ...(o.upstream ? { upstream: await o.upstream(clock, logger) } : {}),
    logger,
    metrics: new Registry(),
    onReady: (i) => ready(i),
  });
  const stop = new AbortController();
  const done = server.run(stop.signal).finally(() => ds.close());
  const info = await Promise.race([up, done.then(() => Promise.reject(new Error("server stopped before it was ready")))]);
  return {
    dir,
    socketPath,
    ds,
    logs,
    agentAPIPort: info.agentAPIPort,
    consoleURL: info.consoleURL!,
    async stop() {
      stop.abort();
      await done;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
