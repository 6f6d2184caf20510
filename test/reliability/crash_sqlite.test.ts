/**
 * Crash consistency on SQLite: concurrent admin-API clients create entries and join tokens while wisp-server (real
 * process, real SQLite file) is killed with SIGKILL at seeded random moments and restarted. After every kill, the
 * last one included, the restarted server and the file itself are compared with the clients' ledger: nothing
 * acknowledged lost or changed, nothing half-written, nothing unasked for (see _crash_ledger.ts).
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { join } from "node:path";
import Database from "libsql";
import { type Cluster, newCluster, startServer } from "../integration/_harness.ts";
import { adminHTTP } from "./_admin.ts";
import { CrashLedger, type RawQuery } from "./_crash_ledger.ts";
import { Rand } from "./_fuzz.ts";

const KILLS = 8;
const WRITERS = 6;
/** Seeded so a failing schedule can be replayed: WISP_FAULT_SEED=<n>. */
const SEED = Number(process.env.WISP_FAULT_SEED ?? 20261206);

let c: Cluster;
let setupError: unknown;

test.before(async () => {
  try {
    c = await newCluster();
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  await c?.cleanup();
});

/** Reads the tables through a connection of its own, beside the running server (WAL lets a reader in). */
function sqliteReader(path: string): { raw: RawQuery; close(): void } {
  const db = new Database(path);
  db.exec("PRAGMA query_only=1");
  return {
    raw: async (sql) => db.prepare(sql).all([]) as Record<string, unknown>[],
    close: () => db.close(),
  };
}

test(`${KILLS} × SIGKILL of wisp-server during concurrent entry and join-token writes: no acknowledged write lost, none half-written`, async () => {
  if (setupError) throw setupError;
  const rand = new Rand(SEED);
  const ledger = new CrashLedger(rand);
  const dbPath = join(c.dir, "server", "datastore.sqlite3");
  const restartMs: number[] = [];
  let last = { entries: 0, tokens: 0 };

  for (let kill = 0; kill <= KILLS; kill++) {
    const t0 = performance.now();
    await startServer(c);
    if (kill > 0) restartMs.push(performance.now() - t0);
    const admin = adminHTTP(c.serverSocket);
    const reader = sqliteReader(dbPath);
    try {
      if (kill > 0) {
        const label = `after kill ${kill}`;
        assert.equal(await reader.raw("PRAGMA integrity_check"), [{ integrity_check: "ok" }], `${label}: integrity_check`);
        assert.equal(await reader.raw("PRAGMA foreign_key_check"), [], `${label}: foreign_key_check`);
        last = await ledger.check(label, admin, reader.raw);
      }
    } finally {
      reader.close();
    }
    if (kill === KILLS) {
      await admin.close();
      break;
    }

    let stop = false;
    const writers = Array.from({ length: WRITERS }, () => ledger.writer(admin, () => stop));
    await new Promise((r) => setTimeout(r, 300 + rand.next() * 1200));
    stop = true;
    c.server!.child.kill("SIGKILL");
    await c.server!.waitExit();
    await Promise.all(writers);
    await admin.close();
  }

  const f = ledger.figures;
  assert.is(f.lost, 0);
  assert.is(f.halfWritten, 0);
  assert.is(f.checks, KILLS);
  assert.ok(f.ackedEntries > 0 && f.ackedTokens > 0, "both kinds of write were acknowledged");
  const sorted = [...restartMs].sort((a, b) => a - b);
  console.log(`[figure] crash_sqlite: ${KILLS} SIGKILLs of wisp-server, ${WRITERS} concurrent writers, ${f.requests} requests (seed ${SEED})`);
  console.log(
    `[figure] crash_sqlite: acknowledged ${f.ackedEntries} entries and ${f.ackedTokens} join tokens; lost 0, half-written 0, checked after each of the ${f.checks} kills`,
  );
  console.log(
    `[figure] crash_sqlite: in flight at a kill (no answer): ${f.unansweredFound} found complete, ${f.unansweredAbsent} absent; ` +
      `answered with an error: ${f.refusedFound} found, ${f.refusedAbsent} absent`,
  );
  console.log(
    `[figure] crash_sqlite: datastore at the end ${last.entries} entries, ${last.tokens} join tokens; ` +
      `restart to healthy median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms`,
  );
});

test.run();
