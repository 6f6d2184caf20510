/**
 * The PostgreSQL adapter of the SQL driver port, on postgres.js, for one or several servers sharing a database.
 *
 * Write transactions keep SQLite's single-writer semantics, which the shared SQL code relies on: each one runs at
 * READ COMMITTED and first takes a database-wide transaction advisory lock, so write transactions of every server
 * run one at a time while reads run freely. That gives, without per-query care:
 * - entry events get their ids in commit order, so a server tailing `id > last` never skips one that commits late;
 * - read-modify-write steps (bundle appends, journal ids) never lose a concurrent change;
 * - two servers starting on an empty database do not both run the migrations.
 * The lock is released at commit or rollback, and by the server when a session dies or idles in a transaction.
 * Unlike the SQLite driver, calls are not serialised: the pool runs up to `maxOpenConns` of them at once.
 * @module
 */
import postgres from "postgres";
import { parsePGConnString } from "../../core/config/pg_conn.ts";
import { AlreadyExistsError, ConfigError, InternalError, ServiceError, UnavailableError } from "../../core/errors.ts";
import type { SQLDriver, SQLExecutor, SQLRunResult, SQLValue } from "../../core/ports/sql_driver.ts";
import { postgresOptions } from "./postgres_options.ts";

/** postgres.js's custom-types parameter: none are registered, so it is the empty map its own default uses. */
// deno-lint-ignore ban-types
type PGTypes = {};
type Sql = postgres.Sql<PGTypes>;
type Params = postgres.ParameterOrJSON<never>[];

export interface PostgresDriverOptions {
  /** libpq `key=value` list or postgres:// URL (SPIRE's `connection_string`). */
  connectionString: string;
  /**
   * A read replica (SPIRE's `ro_connection_string`). It is parsed and validated, but every query goes to the primary:
   * the port cannot mark a read as tolerant of replica lag, and a server must read its own writes.
   */
  roConnectionString?: string;
  /** Most connections in the pool; 10 when unset or 0. */
  maxOpenConns?: number;
  /** 0 closes connections as soon as they go idle (after 1 s); otherwise idle ones close after 30 s. */
  maxIdleConns?: number;
  /** A connection is replaced after this many ms; a random 30 to 60 minutes when unset. */
  connMaxLifetimeMs?: number;
  /** How long a statement waits for a lock (the write lock included) before "datastore is busy"; 10 s default. */
  lockTimeoutMs?: number;
}

/** Key of the write lock: "wisp" in ASCII, then 1. Two int4 halves keep it apart from single-bigint users. */
const WRITE_LOCK = "SELECT pg_advisory_xact_lock(2003398512, 1)";
const TX_ATTEMPTS = 5;
/** How long a transaction waits for a connection before asking the pool again (see #reserve). */
const RESERVE_RETRY_MS = 1000;
/** How long a call may stay unanswered after a connection of the pool closed before it counts as dropped (see #settle). */
const DROPPED_AFTER_CLOSE_MS = 2000;
/** How often a read dropped that way is asked again before it fails as unavailable. */
const DROPPED_READ_ATTEMPTS = 3;
/**
 * The longest any call outside a transaction may stay unanswered. Listing 100k entries takes under a second here, so
 * this only ends calls the client lost; without it one lost read kept a server unready after PostgreSQL came back.
 */
const CALL_DEADLINE_MS = 15_000;

/** Error codes of a connection that failed or broke: socket errors, TLS failures, postgres.js's own. */
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ENOENT",
  "EACCES",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENETDOWN",
  "EAI_AGAIN",
  "ENOTFOUND",
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

/** SQLSTATEs after which the same call may work later: connection, auth, resources, shutdown, a read-only standby. */
function unavailableState(state: string): boolean {
  return /^(08|28|53|57P0[123])/.test(state) || state === "3D000" || state === "25006";
}

/** An error after which the connection is gone: socket errors, postgres.js's own, SQLSTATE 08xxx and 57P0x. */
function connectionLost(err: unknown): boolean {
  if (err instanceof postgres.PostgresError) return /^(08|57P0)/.test(err.code);
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && CONNECTION_CODES.has(code);
}

/** A serialization failure or deadlock, raw or already translated (the SQLSTATE is then on the cause). */
function isRetryable(err: unknown): boolean {
  const raw = err instanceof ServiceError ? err.cause : err;
  const state = raw instanceof postgres.PostgresError ? raw.code : undefined;
  return state === "40001" || state === "40P01";
}

/** Maps a postgres.js error onto the port's error contract. */
function translate(err: unknown): unknown {
  if (err instanceof ServiceError) return err;
  if (err instanceof postgres.PostgresError) {
    const state = err.code;
    if (state === "23505") return new AlreadyExistsError("unique constraint violated", { cause: err });
    if (state === "40001" || state === "40P01" || state === "55P03" || state === "57014") {
      return new UnavailableError("datastore is busy", { cause: err });
    }
    if (unavailableState(state)) return new UnavailableError("datastore is unavailable", { cause: err });
    return new InternalError("datastore query failed", { cause: err });
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && (CONNECTION_CODES.has(code) || /CERT|^ERR_(TLS|SSL)/.test(code))) {
    return new UnavailableError("datastore is unavailable", { cause: err });
  }
  return new InternalError("datastore query failed", { cause: err });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function execOn(sql: Sql | postgres.TransactionSql<PGTypes>, text: string): Promise<void> {
  try {
    await sql.unsafe(text);
  } catch (err) {
    throw translate(err);
  }
}

async function queryOn<T>(
  sql: Sql | postgres.TransactionSql<PGTypes>,
  text: string,
  params: readonly SQLValue[],
): Promise<T[]> {
  try {
    // A plain array: the client's row list carries extra fields that callers have no use for.
    return Array.from(await sql.unsafe(text, [...params] as Params, { prepare: true })) as T[];
  } catch (err) {
    throw translate(err);
  }
}

async function runOn(
  sql: Sql | postgres.TransactionSql<PGTypes>,
  text: string,
  params: readonly SQLValue[],
): Promise<SQLRunResult> {
  try {
    const r = await sql.unsafe(text, [...params] as Params, { prepare: true });
    return { changes: r.count ?? 0, lastInsertRowid: 0 };
  } catch (err) {
    throw translate(err);
  }
}

/** A postgres.js pool behind the async SQLDriver port. */
export class PostgresDriver implements SQLDriver {
  readonly dialect = "postgres" as const;
  #sql: Sql;
  #lockTimeoutMs: number;
  #closed = false;
  /** Connections of the pool that closed so far, and when the last one did (postgres.js `onclose`). */
  readonly #closes: { n: number; at: number };

  private constructor(sql: Sql, lockTimeoutMs: number, closes: { n: number; at: number }) {
    this.#sql = sql;
    this.#lockTimeoutMs = lockTimeoutMs;
    this.#closes = closes;
  }

  /**
   * Validates both connection strings, opens the pool and checks that the database answers.
   * @throws {ConfigError} listing every problem of both connection strings
   * @throws {UnavailableError} "datastore is unavailable" when the database cannot be reached or refuses the login
   */
  static async open(options: PostgresDriverOptions): Promise<PostgresDriver> {
    const pool = {
      lockTimeoutMs: options.lockTimeoutMs ?? 10_000,
      ...(options.maxOpenConns === undefined ? {} : { maxOpenConns: options.maxOpenConns }),
      ...(options.maxIdleConns === undefined ? {} : { maxIdleConns: options.maxIdleConns }),
      ...(options.connMaxLifetimeMs === undefined ? {} : { connMaxLifetimeMs: options.connMaxLifetimeMs }),
    };
    const issues: string[] = [];
    const check = (conn: string, label: string) => {
      try {
        return postgresOptions(parsePGConnString(conn, label), pool, label);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        issues.push(...err.issues);
        return undefined;
      }
    };
    const primary = check(options.connectionString, "connection_string");
    if (options.roConnectionString !== undefined) check(options.roConnectionString, "ro_connection_string");
    if (primary === undefined || issues.length > 0) throw new ConfigError(issues);
    const closes = { n: 0, at: 0 };
    const sql = postgres({
      ...primary,
      onclose: () => {
        closes.n++;
        closes.at = Date.now();
      },
    });
    try {
      await sql.unsafe("SELECT 1");
    } catch (err) {
      await sql.end({ timeout: 1 }).catch(() => undefined);
      throw translate(err);
    }
    return new PostgresDriver(sql, pool.lockTimeoutMs, closes);
  }

  exec(sql: string): Promise<void> {
    return this.#open().then((db) => this.#settle(() => execOn(db, sql), false));
  }

  query<T = Record<string, unknown>>(sql: string, params: readonly SQLValue[] = []): Promise<T[]> {
    return this.#open().then((db) => this.#settle(() => queryOn<T>(db, sql, params), true));
  }

  run(sql: string, params: readonly SQLValue[] = []): Promise<SQLRunResult> {
    return this.#open().then((db) => this.#settle(() => runOn(db, sql, params), false));
  }

  /**
   * A call that cannot wait forever. postgres.js 3.4 hands the first call queued when a connection closes to that
   * connection's reconnect, and when the reconnect fails too (the database is still down) the call is neither sent nor
   * failed: its promise never settles (measured: the sync hub's poll hung this way after a PostgreSQL crash, so the
   * server's readiness froze and its shutdown never finished). So a call still unanswered 2 s after a pool connection
   * closed is taken as dropped: a read is asked again beside the first (the first answer wins; a duplicate read costs
   * nothing), a write fails as unavailable, its outcome unknown to the caller as with any broken connection.
   */
  #settle<T>(call: () => Promise<T>, read: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      let attempts = 0;
      let epoch = this.#closes.n;
      const finish = (f: () => void) => {
        if (done) return;
        done = true;
        clearInterval(watch);
        f();
      };
      const start = () => {
        attempts++;
        epoch = this.#closes.n;
        call().then((v) => finish(() => resolve(v)), (err) => finish(() => reject(err)));
      };
      // A read asked again after a drop gets the lock timeout to answer, whether or not more connections close.
      let retriedAt = 0;
      const startedAt = Date.now();
      const watch = setInterval(() => {
        const now = Date.now();
        if (now - startedAt >= CALL_DEADLINE_MS) {
          return finish(() => reject(new UnavailableError("datastore is unavailable", { cause: new Error(`no answer within ${CALL_DEADLINE_MS} ms`) })));
        }
        const dropped = this.#closes.n !== epoch && now - this.#closes.at >= DROPPED_AFTER_CLOSE_MS;
        if (!dropped && !(retriedAt > 0 && now - retriedAt >= this.#lockTimeoutMs)) return;
        if (dropped && read && attempts < DROPPED_READ_ATTEMPTS) {
          retriedAt = now;
          return start();
        }
        finish(() =>
          reject(new UnavailableError("datastore is unavailable", { cause: new Error("a connection closed while the call waited for its answer") }))
        );
      }, DROPPED_AFTER_CLOSE_MS / 2);
      start();
    });
  }

  /**
   * Runs `fn` in a write transaction that holds the datastore write lock. A serialization failure or deadlock runs
   * `fn` again, up to 5 times in all, after a short random pause; then it is "datastore is busy".
   */
  async transaction<T>(fn: (tx: SQLExecutor) => Promise<T>): Promise<T> {
    const db = await this.#open();
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#attempt(db, fn);
      } catch (err) {
        if (!isRetryable(err) || attempt >= TX_ATTEMPTS) throw translate(err);
        await sleep(Math.random() * 10 * 2 ** attempt);
      }
    }
  }

  /**
   * One try of a write transaction on a reserved connection. Not postgres.js's own `begin()`: when the connection
   * breaks inside it, `begin()` sends ROLLBACK on the dead connection, and postgres.js 3.4 then writes to a null
   * socket from a setImmediate callback, a TypeError nobody can catch that ends the process (porsager/postgres
   * #1154, #1208; measured here: every PostgreSQL crash under write load killed wisp-server). So once the connection
   * is lost, nothing more is sent on it and it is not released (the pool has already taken it back as closed); the
   * server rolls the transaction back itself when the session dies.
   */
  async #attempt<T>(db: Sql, fn: (tx: SQLExecutor) => Promise<T>): Promise<T> {
    const conn = await this.#reserve(db);
    // The pool's connection object behind `conn`: postgres.js sets its `reserved` to a new function each time the
    // connection is reserved and to null when it closes, so a change means this session is gone.
    let handle: { reserved?: unknown } | undefined;
    let mark: unknown;
    let lost = false;
    const send = async (text: string, params: readonly SQLValue[], capture = false): Promise<postgres.RowList<postgres.Row[]>> => {
      if (lost || (handle !== undefined && handle.reserved !== mark)) {
        lost = true;
        throw new UnavailableError("datastore is unavailable", { cause: new Error("connection closed during the transaction") });
      }
      try {
        const options = capture
          ? {
            onexecute: (c: { reserved?: unknown }) => {
              handle = c;
              mark = c.reserved;
              return true;
            },
          }
          : { prepare: true };
        return await conn.unsafe(text, [...params] as Params, options as { prepare: boolean });
      } catch (err) {
        if (connectionLost(err)) lost = true;
        throw translate(err);
      }
    };
    let open = true;
    const guard = () => {
      if (!open) throw new InternalError("transaction used after it ended");
    };
    try {
      await send("BEGIN ISOLATION LEVEL READ COMMITTED", [], true);
      let result: T;
      try {
        await send(WRITE_LOCK, []);
        const tx: SQLExecutor = {
          exec: async (sql) => (guard(), void (await send(sql, []))),
          // A plain array: the client's row list carries extra fields that callers have no use for.
          query: async <R>(sql: string, params: readonly SQLValue[] = []) => (guard(), Array.from(await send(sql, params)) as R[]),
          run: async (sql, params = []) => (guard(), { changes: (await send(sql, params)).count ?? 0, lastInsertRowid: 0 }),
        };
        result = await fn(tx);
      } catch (err) {
        open = false;
        if (!lost) await send("ROLLBACK", []).catch(() => undefined);
        throw err;
      }
      open = false;
      await send("COMMIT", []);
      return result;
    } finally {
      open = false;
      if (!lost) conn.release();
    }
  }

  /**
   * A connection of its own for a transaction, within the lock timeout. postgres.js 3.4 drops a waiting reserve()
   * that it hands to a reconnecting connection (index.js onclose shifts it off the queue as that connection's first
   * query, and the connection, once open, serves the next one), so after a database restart some would wait forever
   * (measured: 1 or 2 per PostgreSQL crash under write load). So a reserve() not answered within a second is asked
   * again beside the first, until the lock timeout; the first connection to arrive is used, later ones go straight
   * back to the pool.
   */
  #reserve(db: Sql): Promise<postgres.ReservedSql<PGTypes>> {
    const deadline = Date.now() + this.#lockTimeoutMs;
    return new Promise((resolve, reject) => {
      let done = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (f: () => void) => {
        done = true;
        clearTimeout(timer);
        f();
      };
      const attempt = () => {
        db.reserve().then(
          (conn) => (done ? conn.release() : finish(() => resolve(conn))),
          (err) => done || finish(() => reject(translate(err))),
        );
        const left = deadline - Date.now();
        timer = left > RESERVE_RETRY_MS ? setTimeout(attempt, RESERVE_RETRY_MS) : setTimeout(() =>
          finish(() =>
            reject(
              new UnavailableError("datastore is busy", {
                cause: new Error(`no connection within ${this.#lockTimeoutMs} ms`),
              }),
            )
          ), Math.max(0, left));
      };
      attempt();
    });
  }

  /** Waits up to 5 s for running calls, then closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#sql.end({ timeout: 5 });
  }

  #open(): Promise<Sql> {
    return this.#closed ? Promise.reject(new UnavailableError("datastore is closed")) : Promise.resolve(this.#sql);
  }
}
