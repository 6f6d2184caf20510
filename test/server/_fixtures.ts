/** Shared set-up for server tests: a real SQLite store, real keys, a manual clock. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../src/core/ports/clock.ts";
import * as spiffeid from "../../src/core/spiffeid/mod.ts";
import { SQLStore } from "../../src/server/datastore/sql/sql_store.ts";
import { SQLiteDriver } from "../../src/runtime/node/sqlite_driver.ts";

export const TD = spiffeid.trustDomainFromString("example.org");
export const HOUR = 3600_000;

export async function memoryStore(clock: ManualClock): Promise<SQLStore> {
  return SQLStore.open({ driver: await SQLiteDriver.open(":memory:"), clock });
}

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "wisp-test-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function newClock(): ManualClock {
  return new ManualClock(new Date("2026-11-30T00:00:00Z"));
}
