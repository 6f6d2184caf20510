/**
 * Property test of incremental sync, in process: random entry creates, updates (reparenting, renaming, node aliases),
 * deletes, expiries, node selector changes, agent reconnects with stale cursors and server restarts, with two sync
 * hubs ("servers") on one SQLite datastore and then on one PostgreSQL; after every step each agent's entries must
 * equal the truth computed from the datastore, and an agent whose entries did not change must receive nothing.
 * The seed is printed; set WISP_SYNC_SEED to replay one.
 * @module
 */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { SQLStore } from "../../../src/server/datastore/sql/sql_store.ts";
import { SQLiteDriver } from "../../../src/runtime/node/sqlite_driver.ts";
import { PostgresDriver } from "../../../src/runtime/node/postgres_driver.ts";
import { startPostgres } from "../../_pg/postgres.ts";
import { newClock, tempDir } from "../_fixtures.ts";
import { SyncWorld } from "./_sync_world.ts";
import { join } from "node:path";

const seedFromEnv = Number(process.env.WISP_SYNC_SEED ?? "");
const baseSeed = Number.isFinite(seedFromEnv) && seedFromEnv > 0 ? seedFromEnv : (Date.now() % 1_000_000_007);

test("two servers on one SQLite datastore: every agent's entries follow the datastore through random changes, reconnects and restarts", async () => {
  const clock = newClock();
  const tmp = tempDir();
  const path = join(tmp.dir, "datastore.sqlite3");
  let ds = await SQLStore.open({ driver: await SQLiteDriver.open(path), clock });
  let world: SyncWorld | undefined;
  try {
    for (let round = 0; round < 3; round++) {
      const seed = baseSeed + round;
      console.log(`sync property (SQLite): seed ${seed}`);
      world = new SyncWorld({
        seed,
        clock,
        stores: [ds, ds],
        agents: 6,
        reopen: async () => {
          await ds.close();
          ds = await SQLStore.open({ driver: await SQLiteDriver.open(path), clock });
          return [ds, ds];
        },
      });
      await world.setup();
      await world.run(150, Date.now() + 4_000);
      const s = world.stats;
      console.log(
        `  ${s.steps} steps, ${s.entries} entries at the end; ${s.deltas} deltas, ${s.snapshots} snapshots, ${s.resumedWithDelta} reconnects answered with a delta, ${s.resyncs} fell back to a snapshot (node selectors changed while away), ${s.federatedMessages} carried federated bundles`,
      );
      assert.ok(s.deltas > 0, "changes travelled as deltas");
      world.close();
      for (const e of await ds.listEntries()) await ds.deleteEntry(e.id);
      for (const n of await ds.listAttestedNodes()) await ds.deleteAttestedNode(n.spiffeID);
    }
  } finally {
    world?.close();
    await ds.close();
    tmp.cleanup();
  }
});

test("two servers on one PostgreSQL, each with its own connection pool: the same property", async () => {
  const pg = await startPostgres();
  const clock = newClock();
  const stores: SQLStore[] = [];
  let world: SyncWorld | undefined;
  try {
    for (let i = 0; i < 2; i++) stores.push(await SQLStore.open({ driver: await PostgresDriver.open({ connectionString: pg.connectionString }), clock }));
    const seed = baseSeed + 100;
    console.log(`sync property (PostgreSQL): seed ${seed}`);
    world = new SyncWorld({ seed, clock, stores, agents: 5 });
    await world.setup();
    await world.run(120, Date.now() + 6_000);
    const s = world.stats;
    console.log(
      `  ${s.steps} steps, ${s.entries} entries at the end; ${s.deltas} deltas, ${s.snapshots} snapshots, ${s.resumedWithDelta} reconnects answered with a delta, ${s.resyncs} fell back to a snapshot (node selectors changed while away), ${s.federatedMessages} carried federated bundles`,
    );
    assert.ok(s.deltas > 0, "changes travelled as deltas");
  } finally {
    world?.close();
    for (const s of stores) await s.close();
    await pg.stop();
  }
});
test.run();
