/** experimental.sync_interval: the sync stream's reconnect delay and its backoff cap (SPIRE's min(8 min, 48 × interval)). */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { AgentManager } from "../../../src/agent/manager/manager.ts";
import type { ServerClient } from "../../../src/agent/client/server_client.ts";
import { UnavailableError } from "../../../src/core/errors.ts";
import { type LogRecord, newLogger } from "../../../src/core/log/logger.ts";
import type { Clock } from "../../../src/core/ports/clock.ts";
import { trustDomainFromString } from "../../../src/core/spiffeid/mod.ts";
import { nodeFS } from "../../../src/runtime/node/fs.ts";

/** Runs the manager against a server that always refuses the sync stream; returns the retry delays it chose. */
async function retryDelays(syncInterval: number | undefined, failures: number): Promise<number[]> {
  const records: LogRecord[] = [];
  const stop = new AbortController();
  // Sleeps end at once (on the next turn), so the test measures the chosen delays, not time.
  const clock: Clock = {
    now: () => new Date(0),
    sleep: (_ms, signal) => new Promise((resolve, reject) => setImmediate(() => (signal?.aborted ? reject(signal.reason) : resolve()))),
  };
  const client = {
    sync: async () => {
      throw new UnavailableError("connection refused");
    },
  } as unknown as ServerClient;
  const manager = new AgentManager({
    trustDomain: trustDomainFromString("example.org"),
    client,
    fs: nodeFS,
    attestor: { name: "join_token", payload: () => Promise.resolve(new Uint8Array()), challenge: () => Promise.reject(new Error("no challenge")) },
    insecureBootstrap: true,
    clock,
    logger: newLogger({
      level: "warn",
      sink: (r) => {
        records.push(r);
        if (records.filter((x) => x.msg === "Failed to sync with the server").length >= failures) stop.abort();
      },
    }),
    ...(syncInterval === undefined ? {} : { syncInterval }),
  });
  await manager.run(stop.signal);
  return records.filter((r) => r.msg === "Failed to sync with the server").map((r) => r.fields["retry_ms"] as number);
}

test("without sync_interval: 500 ms, doubling up to 30 s", async () => {
  assert.equal(await retryDelays(undefined, 9), [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test("sync_interval = 300ms: starts there and is capped at 48 × 300 ms, SPIRE's cap", async () => {
  assert.equal(await retryDelays(300, 8), [300, 600, 1200, 2400, 4800, 9600, 14400, 14400]);
});

test("sync_interval = 5m: the cap is 8 min", async () => {
  assert.equal(await retryDelays(300_000, 3), [300_000, 480_000, 480_000]);
});

test.run();
