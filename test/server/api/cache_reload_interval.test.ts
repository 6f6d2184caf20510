/** experimental.cache_reload_interval: how often the server polls the datastore for other servers' changes. */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { SyncHub } from "../../../src/server/api/sync_hub.ts";
import type { DataStore } from "../../../src/server/datastore/datastore.ts";
import { nullLogger } from "../../../src/core/log/logger.ts";
import type { Clock } from "../../../src/core/ports/clock.ts";

async function pollPeriods(interval: number | undefined): Promise<number[]> {
  const slept: number[] = [];
  const stop = new AbortController();
  let polls = 0;
  const ds = {
    lastEntryEventID: async () => ++polls,
    fetchBundle: async () => undefined,
    listEntries: async () => [],
  } as unknown as DataStore;
  const clock: Clock = {
    now: () => new Date(0),
    sleep: async (ms) => {
      slept.push(ms);
      if (slept.length === 3) stop.abort();
    },
  };
  await new SyncHub({ ds, trustDomain: "example.org", logger: nullLogger, clock }).run(stop.signal, interval);
  assert.is(polls, 3, "one datastore poll per period");
  return slept;
}

test("SyncHub.run() polls every cache_reload_interval, 500 ms when unset", async () => {
  assert.equal(await pollPeriods(2000), [2000, 2000, 2000]);
  assert.equal(await pollPeriods(undefined), [500, 500, 500]);
});

test.run();
