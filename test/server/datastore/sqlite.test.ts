/** The SQL datastore on SQLite (libsql): conformance suite plus locking, file modes, migrations, crashes. @module */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "libsql";
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { FailedPreconditionError, UnavailableError } from "../../../src/core/errors.ts";
import { SQLiteDriver } from "../../../src/runtime/node/sqlite_driver.ts";
import { type Migration, MIGRATIONS } from "../../../src/server/datastore/sql/migrations.ts";

/** The newest built-in schema version; test-only steps come after it. */
const LATEST = MIGRATIONS[MIGRATIONS.length - 1]!.version;
import { SQLStore } from "../../../src/server/datastore/sql/sql_store.ts";
import { datastoreSuite, newEntry, rejects } from "../../conformance/datastore.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const DRIVER_URL = new URL("../../../src/runtime/node/sqlite_driver.ts", import.meta.url).href;
const STORE_URL = new URL("../../../src/server/datastore/sql/sql_store.ts", import.meta.url).href;

/** Children always run on Node (with tsx), also when this file runs under Deno, whose execPath is deno. */
const NODE = "Deno" in globalThis ? "node" : process.execPath;

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "wisp-sqlite-"));
  dirs.push(d);
  return d;
}

async function openStore(path: string, extra: { migrations?: readonly Migration[]; busyTimeoutMs?: number } = {}) {
  const { migrations, busyTimeoutMs } = extra;
  const driver = await SQLiteDriver.open(path, busyTimeoutMs === undefined ? {} : { busyTimeoutMs });
  return SQLStore.open({ driver, codeVersion: "test-1", ...(migrations ? { migrations } : {}) });
}

/** Runs an ES module snippet in a child `node --import tsx`; resolves with its stdout once it exits. */
function child(
  code: string,
  onLine?: (line: string, kill: () => void) => void,
): Promise<{ stdout: string; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const p = spawn(NODE, ["--import", "tsx", "--input-type=module", "-e", code], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    p.stdout.setEncoding("utf8");
    p.stdout.on("data", (chunk: string) => {
      stdout += chunk;
      if (onLine) { for (const line of chunk.split("\n")) if (line) onLine(line, () => p.kill("SIGKILL")); }
    });
    p.on("error", reject);
    p.on("exit", (_code, signal) => resolve({ stdout, signal }));
  });
}

/** A child that tries to open `path` and prints the outcome as JSON. */
function childOpen(path: string) {
  return child(`
    const { SQLiteDriver } = await import(${JSON.stringify(DRIVER_URL)});
    try {
      const d = await SQLiteDriver.open(${JSON.stringify(path)});
      const rows = await d.query("SELECT COUNT(*) AS n FROM registered_entries");
      await d.close();
      console.log(JSON.stringify({ ok: true, entries: rows[0].n }));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, name: e.name, code: e.code, message: e.message }));
    }
  `);
}

datastoreSuite("sqlite", async () => {
  const dir = tempDir();
  const ds = await openStore(join(dir, "datastore.sqlite3"));
  return { ds, cleanup: () => ds.close() };
});

datastoreSuite("sqlite in-memory", async () => {
  const ds = await SQLStore.open({ driver: await SQLiteDriver.open(":memory:") });
  return { ds, cleanup: () => ds.close() };
});

test("a second process cannot open a datastore in use, and can once it is closed", async () => {
  const path = join(tempDir(), "data", "datastore.sqlite3");
  const ds = await openStore(path);
  await ds.createEntry(newEntry());
  const refused = JSON.parse((await childOpen(path)).stdout);
  assert.equal(refused, {
    ok: false,
    name: "FailedPreconditionError",
    code: "ERR_DATASTORE_LOCKED",
    message: `datastore "${path}" is in use by another process`,
  });
  // A second opener inside this process is refused as well.
  const locked = `datastore "${path}" is in use by another process`;
  await rejects(SQLiteDriver.open(path), FailedPreconditionError, "ERR_DATASTORE_LOCKED", locked);
  await ds.close();
  assert.equal(JSON.parse((await childOpen(path)).stdout), { ok: true, entries: 1 });
});

test("the database, its WAL and its lock file are private (0600) in a created directory", async () => {
  const dir = join(tempDir(), "nested", "deeper");
  const path = join(dir, "datastore.sqlite3");
  const ds = await openStore(path);
  await ds.createEntry(newEntry());
  for (const f of [path, `${path}-wal`, `${path}-shm`, `${path}.lock`]) {
    assert.is((statSync(f).mode & 0o777).toString(8), "600", f);
  }
  assert.is((statSync(dir).mode & 0o777).toString(8), "700");
  await ds.close();
});

test("data survives closing and reopening", async () => {
  const path = join(tempDir(), "datastore.sqlite3");
  const a = await openStore(path);
  const e = await a.createEntry(newEntry());
  const root = new Uint8Array([1, 2, 3]);
  const b = await a.appendBundle({ trustDomain: "spiffe://example.org", x509Authorities: [root], jwtKeys: [] });
  await a.createJoinToken({ token: "tok", expiresAt: 10 });
  const events = await a.listEntryEvents(0);
  await a.close();
  const c = await openStore(path);
  assert.equal(c.migration, { from: LATEST, to: LATEST });
  assert.equal(await c.fetchEntry(e.id), e);
  assert.equal(await c.fetchBundle("spiffe://example.org"), b);
  assert.equal(await c.listEntryEvents(0), events);
  assert.equal(await c.takeJoinToken("tok"), { token: "tok", expiresAt: 10 });
  await c.close();
});

test("migrations: a fresh database gets the newest schema, an older one is upgraded in place", async () => {
  const path = join(tempDir(), "datastore.sqlite3");
  const v1 = await openStore(path);
  assert.equal(v1.migration, { from: 0, to: LATEST });
  const versions = await v1.driver.query("SELECT version, code_version FROM schema_version");
  assert.equal(versions, [{ version: LATEST, code_version: "test-1" }]);
  const e = await v1.createEntry(newEntry());
  await v1.close();

  const v2: Migration = {
    version: LATEST + 1,
    statements: {
      sqlite: [`ALTER TABLE registered_entries ADD COLUMN note TEXT NOT NULL DEFAULT 'none'`],
      postgres: [`ALTER TABLE registered_entries ADD COLUMN note TEXT NOT NULL DEFAULT 'none'`],
    },
  };
  const up = await openStore(path, { migrations: [...MIGRATIONS, v2] });
  assert.equal(up.migration, { from: LATEST, to: LATEST + 1 });
  assert.equal(await up.fetchEntry(e.id), e);
  assert.equal(await up.driver.query("SELECT note FROM registered_entries"), [{ note: "none" }]);
  assert.equal(await up.driver.query("SELECT version FROM schema_version"), [{ version: LATEST + 1 }]);
  await up.close();
});

test("migrations: a failing step leaves the database at its old version", async () => {
  const path = join(tempDir(), "datastore.sqlite3");
  await (await openStore(path)).close();
  const broken: Migration = {
    version: LATEST + 1,
    statements: { sqlite: ["CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL"], postgres: [] },
  };
  let err: unknown;
  await openStore(path, { migrations: [...MIGRATIONS, broken] }).catch((e) => (err = e));
  assert.is((err as { code?: string }).code, "ERR_INTERNAL");
  const ds = await openStore(path);
  assert.equal(ds.migration, { from: LATEST, to: LATEST });
  assert.equal(await ds.driver.query("SELECT name FROM sqlite_master WHERE name = 'half_done'"), []);
  await ds.close();
});

test("migrations: a schema newer than the code is refused and the lock is released", async () => {
  const path = join(tempDir(), "datastore.sqlite3");
  const ds = await openStore(path);
  await ds.driver.run("UPDATE schema_version SET version = $1", [7]);
  await ds.close();
  const tooNew = `datastore schema version 7 is newer than this server supports (${LATEST})`;
  await rejects(openStore(path), FailedPreconditionError, "ERR_SCHEMA_TOO_NEW", tooNew);
  const driver = await SQLiteDriver.open(path);
  assert.equal(await driver.query("SELECT version FROM schema_version"), [{ version: 7 }]);
  await driver.close();
});

test("a process killed -9 inside a transaction leaves no half-written entry and no stale lock", async () => {
  const path = join(tempDir(), "datastore.sqlite3");
  await (await openStore(path)).close();
  const { signal } = await child(
    `
    const { SQLiteDriver } = await import(${JSON.stringify(DRIVER_URL)});
    const { SQLStore } = await import(${JSON.stringify(STORE_URL)});
    const ds = await SQLStore.open({ driver: await SQLiteDriver.open(${JSON.stringify(path)}) });
    await ds.driver.transaction(async (tx) => {
      await tx.run(
        "INSERT INTO registered_entries (id, spiffe_id, parent_id, selectors_hash, selectors, x509_svid_ttl, " +
        "jwt_svid_ttl, dns_names, hint, admin, downstream, revision_number, created_at) " +
        "VALUES ('half', 'spiffe://a/b', 'spiffe://a/p', 'h', '[]', 0, 0, '[]', '', 0, 0, 0, 0)",
      );
      await tx.run("INSERT INTO entry_events (entry_id, created_at) VALUES ('half', 0)");
      console.log("inserted");
      await new Promise(() => setInterval(() => {}, 1000));
    });
  `,
    (line, kill) => {
      if (line === "inserted") kill();
    },
  );
  assert.is(signal, "SIGKILL");
  const ds = await openStore(path);
  assert.is(await ds.fetchEntry("half"), undefined);
  assert.equal(await ds.listEntryEvents(0), []);
  await ds.createEntry(newEntry());
  await ds.close();
});

test("a write lock held by another connection past the busy timeout is 'datastore is busy'", async () => {
  const path = join(tempDir(), "datastore.sqlite3");
  const ds = await openStore(path, { busyTimeoutMs: 50 });
  // A raw connection bypasses the process lock, as an external tool (sqlite3 CLI, backup) would.
  const intruder = new Database(path);
  intruder.exec("BEGIN IMMEDIATE");
  await rejects(ds.createEntry(newEntry()), UnavailableError, "ERR_UNAVAILABLE", "datastore is busy");
  intruder.exec("ROLLBACK");
  intruder.close();
  await ds.createEntry(newEntry());
  await ds.close();
});

test("lookups by parent, SPIFFE ID and selector use indexes", async () => {
  const ds = await openStore(join(tempDir(), "datastore.sqlite3"));
  const plan = async (where: string) => {
    const sql = `EXPLAIN QUERY PLAN SELECT * FROM registered_entries e WHERE ${where}`;
    return (await ds.driver.query<{ detail: string }>(sql, ["x", "y"])).map((r) => r.detail).join("; ");
  };
  assert.match(await plan("e.parent_id = $1 AND $2 = $2"), "USING INDEX registered_entries_identity");
  assert.match(await plan("e.spiffe_id = $1 AND $2 = $2"), "USING INDEX registered_entries_spiffe_id");
  const bySelector = "e.pk IN (SELECT s.entry_pk FROM entry_selectors s WHERE s.type = $1 AND s.value = $2)";
  assert.match(await plan(bySelector), /USING (COVERING )?INDEX entry_selectors_type_value/);
  await ds.close();
});

test("a closed store says so", async () => {
  const ds = await openStore(join(tempDir(), "datastore.sqlite3"));
  await ds.close();
  await ds.close();
  await rejects(ds.fetchEntry("x"), UnavailableError, "ERR_UNAVAILABLE", "datastore is closed");
});

test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test.run();
