/**
 * Crash consistency on PostgreSQL: concurrent admin-API clients create entries and join tokens on a running
 * wisp-server while PostgreSQL (fsync and synchronous_commit on) is crashed with `pg_ctl stop -m immediate` at seeded
 * random moments, left down a moment, and started again (WAL replay). The server is never restarted: it must become
 * ready again by itself and take writes. After every crash the ledger of what clients were answered is compared
 * with the API and the tables (see _crash_ledger.ts).
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { waitFor } from "../integration/_harness.ts";
import { PostgresDriver } from "../../src/runtime/node/postgres_driver.ts";
import { adminHTTP } from "./_admin.ts";
import { CrashLedger } from "./_crash_ledger.ts";
import { Rand } from "./_fuzz.ts";
import { newPGCluster, type PGCluster } from "./_pg_cluster.ts";

const CRASHES = 6;
const WRITERS = 6;
const SEED = Number(process.env.WISP_FAULT_SEED ?? 20261206);

let c: PGCluster;
let setupError: unknown;

test.before(async () => {
  try {
    c = await newPGCluster(1, { pg: { durable: true } });
    await c.startServer(0);
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  await c?.cleanup();
});

// A bounded probe: an unanswered /ready must show up as a timeout in waitFor's message, not hang the file.
const ready = async () => (await fetch(`http://127.0.0.1:${c.servers[0]!.healthPort}/ready`, { signal: AbortSignal.timeout(5_000) })).status;
const t0 = performance.now();

test(`${CRASHES} × PostgreSQL crash (immediate stop) during concurrent writes: the server recovers by itself, no acknowledged write lost, none half-written`, async () => {
  if (setupError) throw setupError;
  const settings = await PostgresDriver.open({ connectionString: c.pg.connectionString });
  const fsync = await settings.query<{ fsync: string; synchronous_commit: string }>(
    "SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS synchronous_commit",
  );
  await settings.close();
  assert.equal(fsync, [{ fsync: "on", synchronous_commit: "on" }], "PostgreSQL runs durable for this test");

  const rand = new Rand(SEED);
  const ledger = new CrashLedger(rand);
  const server = c.servers[0]!;
  const admin = adminHTTP(server.socket);
  const recoverMs: number[] = [];
  let last = { entries: 0, tokens: 0 };
  let refusedDuringOutage = 0;
  try {
    for (let crash = 1; crash <= CRASHES; crash++) {
      const phase = (what: string) =>
        console.error(`[crash ${crash} +${((performance.now() - t0) / 1000).toFixed(1)}s] ${what} (${ledger.figures.requests} requests so far)`);
      let stop = false;
      const writers = Array.from({ length: WRITERS }, () => ledger.writer(admin, () => stop));
      await new Promise((r) => setTimeout(r, 300 + rand.next() * 1200));
      phase("crashing PostgreSQL");
      await c.pg.crash();
      const refusedBefore = ledger.figures.requests;
      await new Promise((r) => setTimeout(r, 200 + rand.next() * 1000));
      refusedDuringOutage += ledger.figures.requests - refusedBefore;
      phase("starting PostgreSQL");
      await c.pg.resume();
      phase("waiting for /ready");
      const up = performance.now();
      await waitFor("server ready again", async () => ((await ready()) === 200 ? true : undefined), 30_000).catch((err) => {
        throw new Error(`${(err as Error).message}\nwisp-server's log:\n${server.proc!.output.slice(-3000)}`, { cause: err });
      });
      recoverMs.push(performance.now() - up);
      phase("waiting for a write after the crash");
      // Writes go through again while the writers still run.
      const acked = ledger.figures.ackedEntries + ledger.figures.ackedTokens;
      await waitFor(
        "a write acknowledged after the crash",
        async () => ledger.figures.ackedEntries + ledger.figures.ackedTokens > acked + WRITERS ? true : undefined,
        30_000,
      );
      stop = true;
      phase("stopping writers");
      await Promise.all(writers);
      phase("checking the ledger");
      assert.not.ok(server.proc!.exited, `wisp-server exited: ${server.proc!.output.slice(-2000)}`);

      const reader = await PostgresDriver.open({ connectionString: c.pg.connectionString });
      try {
        last = await ledger.check(`after crash ${crash}`, admin, (sql) => reader.query(sql));
      } finally {
        await reader.close();
      }
    }
  } finally {
    await admin.close();
  }

  const f = ledger.figures;
  assert.is(f.lost, 0);
  assert.is(f.halfWritten, 0);
  assert.is(f.checks, CRASHES);
  const sorted = [...recoverMs].sort((a, b) => a - b);
  const log = server.proc!.output;
  console.log(
    `[figure] crash_postgres: ${CRASHES} PostgreSQL crashes (pg_ctl stop -m immediate, fsync on), ${WRITERS} concurrent writers, ${f.requests} requests (seed ${SEED}); wisp-server never restarted`,
  );
  console.log(
    `[figure] crash_postgres: acknowledged ${f.ackedEntries} entries and ${f.ackedTokens} join tokens; lost 0, half-written 0, checked after each of the ${f.checks} crashes`,
  );
  console.log(
    `[figure] crash_postgres: no answer: ${f.unansweredFound} found complete, ${f.unansweredAbsent} absent; ` +
      `answered with an error: ${f.refusedFound} found complete, ${f.refusedAbsent} absent (${refusedDuringOutage} requests sent while PostgreSQL was down)`,
  );
  console.log(
    `[figure] crash_postgres: /ready 200 again median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ms, max ${
      sorted.at(-1)!.toFixed(0)
    } ms after PostgreSQL was started; ` +
      `"Datastore is reachable again" logged ${
        (log.match(/Datastore is reachable again/g) ?? []).length
      } times; datastore at the end ${last.entries} entries, ${last.tokens} join tokens`,
  );
});

test.run();
