/**
 * The SQL datastore on a real PostgreSQL server: the conformance suite, connection strings, migrations, and what
 * several servers sharing one database need (event order, single-use tokens, no lost bundle roots, restarts).
 * One server per file; every test gets its own schema (search_path through the connection string's options).
 * @module
 */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { ConfigError, FailedPreconditionError, UnavailableError } from "../../../src/core/errors.ts";
import { PostgresDriver, type PostgresDriverOptions } from "../../../src/runtime/node/postgres_driver.ts";
import type { DataStore } from "../../../src/server/datastore/datastore.ts";
import { type Migration, MIGRATIONS } from "../../../src/server/datastore/sql/migrations.ts";
import { SQLStore } from "../../../src/server/datastore/sql/sql_store.ts";
import { startPostgres } from "../../_pg/postgres.ts";
import { datastoreSuite, newEntry, rejects } from "../../conformance/datastore.ts";

const pg = await startPostgres();
const admin = await PostgresDriver.open({ connectionString: pg.connectionString });

/** The schema version this code migrates to; test migrations go one past it. */
const LATEST = Math.max(...MIGRATIONS.map((m) => m.version));

let schemas = 0;
/** A new empty schema and the connection string that makes it the only one searched. */
async function freshSchema(): Promise<string> {
  const name = `t${++schemas}`;
  await admin.exec(`CREATE SCHEMA ${name}`);
  return `${pg.connectionString} options='-c search_path=${name}'`;
}

async function openStore(
  connectionString: string,
  extra: Partial<PostgresDriverOptions> = {},
  migrations?: Migration[],
) {
  const driver = await PostgresDriver.open({ connectionString, ...extra });
  return SQLStore.open({ driver, codeVersion: "test-1", ...(migrations ? { migrations } : {}) });
}

/** Two servers (two pools) on one fresh schema. */
async function twoServers(): Promise<[SQLStore, SQLStore]> {
  const conn = await freshSchema();
  const a = await openStore(conn);
  return [a, await openStore(conn)];
}

/** The connection string of an open store's schema, for one more server on it. */
async function schemaOf(ds: SQLStore): Promise<string> {
  const [row] = await ds.driver.query<{ s: string }>("SELECT current_schema() AS s");
  return `${pg.connectionString} options='-c search_path=${row!.s}'`;
}

datastoreSuite("postgres", async () => {
  const ds = await openStore(await freshSchema());
  return { ds, cleanup: () => ds.close() };
});

test("libpq key=value strings and postgres:// URLs both reach the server", async () => {
  const dir = encodeURIComponent(pg.socketDir);
  const strings = [
    pg.connectionString,
    `dbname = 'postgres' user='wisp' host=${pg.socketDir} port=5432 application_name='wisp test'`,
    `postgresql://wisp@${dir}:5432/postgres?sslmode=disable&application_name=wisp%20test`,
    `postgres:///postgres?host=${dir}&port=5432&user=wisp`,
  ];
  for (const connectionString of strings) {
    const d = await PostgresDriver.open({ connectionString });
    const [row] = await d.query<{ u: string; db: string }>("SELECT current_user AS u, current_database() AS db");
    assert.equal(row, { u: "wisp", db: "postgres" }, connectionString);
    await d.close();
  }
  const conn = `${pg.connectionString} application_name=wisp-a options='-c search_path=x,y -c work_mem=8MB'`;
  const d = await PostgresDriver.open({ connectionString: conn });
  const settings = await d.query(
    "SELECT current_setting('application_name') AS app, current_setting('search_path') AS path, " +
      "current_setting('work_mem') AS mem, current_setting('lock_timeout') AS lock",
  );
  assert.equal(settings, [{ app: "wisp-a", path: "x,y", mem: "8MB", lock: "10s" }]);
  await d.close();
});

test("bad connection strings are one ConfigError listing every problem, read-only one included", async () => {
  const err = await PostgresDriver.open({
    connectionString: "host=/tmp port=99999 sslmode=maybe frob=1",
    roConnectionString: "mysql://x",
  }).catch((e: unknown) => e);
  assert.ok(err instanceof ConfigError);
  assert.equal(err.issues, [
    `connection_string: unsupported parameter "frob" (supported: host, port, dbname, user, password, sslmode, ` +
    `sslrootcert, sslcert, sslkey, connect_timeout, application_name, target_session_attrs, options)`,
    `connection_string: port "99999" is not a number from 1 to 65535`,
    `connection_string: sslmode "maybe" is not one of disable, allow, prefer, require, verify-ca, verify-full`,
    "ro_connection_string: unsupported URL scheme (use postgres:// or postgresql://)",
  ]);
  const ro = await PostgresDriver.open({ connectionString: pg.connectionString, roConnectionString: "mysql://x" })
    .catch((e: unknown) => e);
  assert.ok(ro instanceof ConfigError);
  assert.is(ro.message, "ro_connection_string: unsupported URL scheme (use postgres:// or postgresql://)");
  const mixed = await PostgresDriver.open({ connectionString: "host=/tmp,db.example port=5432" })
    .catch((e: unknown) => e);
  assert.ok(mixed instanceof ConfigError);
  assert.is(mixed.message, "connection_string: a unix socket directory cannot be combined with other hosts");
  // A valid read-only string is accepted (queries still go to the primary).
  const conn = pg.connectionString;
  const ok = await PostgresDriver.open({ connectionString: conn, roConnectionString: conn });
  await ok.close();
});

test("a server that cannot be reached, or refuses the login, is 'datastore is unavailable'", async () => {
  const gone = `host=${pg.socketDir}/missing user=wisp dbname=postgres`;
  await rejects(PostgresDriver.open({ connectionString: gone }), UnavailableError, "ERR_UNAVAILABLE", "datastore is unavailable");
  const noDB = `${pg.connectionString} dbname=no_such_db`;
  const err = await PostgresDriver.open({ connectionString: noDB }).catch((e: unknown) => e);
  assert.ok(err instanceof UnavailableError);
  assert.is(err.message, "datastore is unavailable");
  assert.is((err.cause as Error).message, `database "no_such_db" does not exist`);
});

test("two servers starting together on an empty database migrate it once", async () => {
  const conn = await freshSchema();
  const [a, b] = await Promise.all([openStore(conn), openStore(conn)]);
  const both = [a.migration, b.migration].sort((x, y) => x.from - y.from);
  assert.equal(both, [{ from: 0, to: LATEST }, { from: LATEST, to: LATEST }]);
  assert.equal(await a.driver.query("SELECT version, code_version FROM schema_version"), [
    { version: LATEST, code_version: "test-1" },
  ]);
  await Promise.all([a.close(), b.close()]);
});

test("migrations: upgrade in place, a failing step changes nothing, a newer schema is refused", async () => {
  const conn = await freshSchema();
  const v1 = await openStore(conn);
  const e = await v1.createEntry(newEntry());
  await v1.close();
  const ddl = `ALTER TABLE registered_entries ADD COLUMN note TEXT NOT NULL DEFAULT 'none'`;
  const next = LATEST + 1;
  const broken: Migration = { version: next, statements: { sqlite: [], postgres: [ddl, "THIS IS NOT SQL"] } };
  const err = await openStore(conn, {}, [...MIGRATIONS, broken]).catch((x: unknown) => x);
  assert.is((err as { code?: string }).code, "ERR_INTERNAL");
  const step: Migration = { version: next, statements: { sqlite: [], postgres: [ddl] } };
  const up = await openStore(conn, {}, [...MIGRATIONS, step]);
  assert.equal(up.migration, { from: LATEST, to: next });
  assert.equal(await up.fetchEntry(e.id), e);
  assert.equal(await up.driver.query("SELECT note FROM registered_entries"), [{ note: "none" }]);
  await up.driver.run("UPDATE schema_version SET version = $1", [next + 5]);
  await up.close();

  const driver = await PostgresDriver.open({ connectionString: conn });
  const tooNew = `datastore schema version ${next + 5} is newer than this server supports (${LATEST})`;
  await rejects(SQLStore.open({ driver }), FailedPreconditionError, "ERR_SCHEMA_TOO_NEW", tooNew);
  await rejects(driver.query("SELECT 1"), UnavailableError, "ERR_UNAVAILABLE", "datastore is closed");
});

test("two servers: a join token is taken once by 20 racers, an entry created once", async () => {
  const [a, b] = await twoServers();
  await a.createJoinToken({ token: "race", expiresAt: 100 });
  const got = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).takeJoinToken("race")));
  assert.equal(got.filter((t) => t !== undefined), [{ token: "race", expiresAt: 100 }]);
  const created = await Promise.allSettled(
    Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).createEntry(newEntry())),
  );
  assert.is(created.filter((r) => r.status === "fulfilled").length, 1);
  await Promise.all([a.close(), b.close()]);
});

test("two servers: concurrent appendBundle calls lose no root and CA journal ids never collide", async () => {
  const [a, b] = await twoServers();
  const td = "spiffe://example.org";
  await Promise.all(
    Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).appendBundle({ trustDomain: td, x509Authorities: [new Uint8Array([i])], jwtKeys: [] })),
  );
  const bundle = await a.fetchBundle(td);
  assert.is(bundle?.x509Authorities.length, 20);
  assert.is(bundle?.sequence, 20);

  const j = await a.setCAJournal({ id: 9000, activeX509AuthorityID: "given", data: "{}" });
  assert.is(j.id, 9000);
  const next = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).setCAJournal({ activeX509AuthorityID: `k${i}`, data: "{}" })));
  assert.equal(next.map((x) => x.id).sort(), Array.from({ length: 10 }, (_, i) => 9001 + i));
  await Promise.all([a.close(), b.close()]);
});

test("two servers writing entries while a third tails the events: the tailer misses none", async () => {
  const [a, b] = await twoServers();
  const tailer = await openStore(await schemaOf(a));
  let writing = true;
  const seen: number[] = [];
  const tail = (async () => {
    let last = 0;
    for (;;) {
      const done = !writing;
      for (const ev of await tailer.listEntryEvents(last, 100)) {
        seen.push(ev.id);
        last = ev.id;
      }
      if (done) return;
    }
  })();
  const writer = async (ds: DataStore, name: string) => {
    for (let i = 0; i < 40; i++) {
      const e = await ds.createEntry(newEntry({ spiffeID: `spiffe://example.org/${name}/${i}` }));
      await ds.updateEntry({ ...e, hint: "changed" });
    }
  };
  await Promise.all(["a1", "a2", "a3", "b1", "b2", "b3"].map((n) => writer(n[0] === "a" ? a : b, n)));
  writing = false;
  await tail;
  const all = (await a.listEntryEvents(0)).map((e) => e.id);
  assert.is(all.length, 6 * 40 * 2);
  assert.equal(seen, all);
  await Promise.all([a.close(), b.close(), tailer.close()]);
});

test("a transaction that hits a serialization failure or deadlock runs again, up to 5 times", async () => {
  const d = await PostgresDriver.open({ connectionString: pg.connectionString });
  const fail = (state: string) => `DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '${state}'; END $$`;
  let attempts = 0;
  const value = await d.transaction(async (tx) => {
    attempts++;
    if (attempts < 3) await tx.exec(fail(attempts === 1 ? "40001" : "40P01"));
    return "done";
  });
  assert.equal([value, attempts], ["done", 3]);
  attempts = 0;
  const always = d.transaction(async (tx) => {
    attempts++;
    await tx.exec(fail("40001"));
  });
  await rejects(always, UnavailableError, "ERR_UNAVAILABLE", "datastore is busy");
  assert.is(attempts, 5);
  await d.close();
});

test("a write transaction waits for another server's; past the lock timeout it is 'datastore is busy'", async () => {
  const first = await PostgresDriver.open({ connectionString: pg.connectionString });
  const second = await PostgresDriver.open({ connectionString: pg.connectionString, lockTimeoutMs: 200 });
  let release!: () => void;
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  const held = first.transaction(async () => {
    entered();
    await new Promise<void>((r) => (release = r));
  });
  await inside;
  await rejects(second.transaction(async () => undefined), UnavailableError, "ERR_UNAVAILABLE", "datastore is busy");
  // Reads do not take the write lock.
  assert.equal(await second.query("SELECT 1 AS one"), [{ one: 1 }]);
  release();
  await held;
  assert.is(await second.transaction(async () => "free"), "free");
  await Promise.all([first.close(), second.close()]);
});

test("the server going away fails calls as unavailable; once back, the same store works again", async () => {
  const ds = await openStore(await freshSchema());
  const e = await ds.createEntry(newEntry());
  await pg.halt();
  try {
    const down = "datastore is unavailable";
    await rejects(ds.fetchEntry(e.id), UnavailableError, "ERR_UNAVAILABLE", down);
    await rejects(ds.createEntry(newEntry({ spiffeID: "spiffe://example.org/x" })), UnavailableError, "ERR_UNAVAILABLE", down);
    await rejects(ds.takeJoinToken("t"), UnavailableError, "ERR_UNAVAILABLE", down);
  } finally {
    await pg.resume();
  }
  assert.equal(await ds.fetchEntry(e.id), e);
  const f = await ds.createEntry(newEntry({ spiffeID: "spiffe://example.org/after" }));
  assert.equal(await ds.fetchEntry(f.id), f);
  await ds.close();
});

test("a closed store says so", async () => {
  const ds = await openStore(await freshSchema());
  await ds.close();
  await ds.close();
  await rejects(ds.fetchEntry("x"), UnavailableError, "ERR_UNAVAILABLE", "datastore is closed");
});

test.after(async () => {
  await admin.close();
  await pg.stop();
});

test.run();
