/**
 * The SQLite adapter of the SQL driver port, on libsql (better-sqlite3-compatible, prebuilt native addon that loads
 * on Node and Deno). It owns the process lock that keeps a second server off the same database file.
 * @module
 */
import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import Database from "libsql";
import { AlreadyExistsError, FailedPreconditionError, InternalError, ServiceError, UnavailableError } from "../../core/errors.ts";
import type { SQLDriver, SQLExecutor, SQLRunResult, SQLValue } from "../../core/ports/sql_driver.ts";

type Conn = InstanceType<typeof Database>;
type Stmt = ReturnType<Conn["prepare"]>;

export interface SQLiteDriverOptions {
  /** How long a statement waits for another connection's lock before failing with "datastore is busy". */
  busyTimeoutMs?: number;
}

const STATEMENT_CACHE_LIMIT = 256;

/** Maps a libsql error onto the port's error contract. */
function translate(err: unknown): unknown {
  if (err instanceof ServiceError) return err;
  const code = (err as { code?: unknown }).code;
  const busy = typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"));
  if (busy) {
    return new UnavailableError("datastore is busy", { cause: err });
  }
  if (code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
    return new AlreadyExistsError("unique constraint violated", { cause: err });
  }
  return new InternalError("datastore query failed", { cause: err });
}

/** SQLite reads `?N` where PostgreSQL reads `$N`; the store writes `$N`. */
function toSQLite(sql: string): string {
  return sql.replace(/\$(\d+)/g, "?$1");
}

/** Blobs come back from libsql as ArrayBuffer; the port promises Uint8Array. */
function normaliseRows<T>(rows: unknown[]): T[] {
  for (const row of rows as Record<string, unknown>[]) {
    for (const k in row) {
      const v = row[k];
      if (v instanceof ArrayBuffer) row[k] = new Uint8Array(v);
    }
  }
  return rows as T[];
}

/** Creates `path` with mode 0600 when absent and forces 0600 when present, before SQLite opens it. */
function createPrivateFile(path: string): void {
  closeSync(openSync(path, "a", 0o600));
  chmodSync(path, 0o600);
}

/**
 * Takes a lock that lasts as long as this process holds it: an EXCLUSIVE transaction on `<db>.lock`. The OS drops
 * the underlying file lock when the process dies, however it dies, so the lock cannot go stale.
 */
function acquireProcessLock(dbPath: string): Conn {
  const lockPath = `${dbPath}.lock`;
  createPrivateFile(lockPath);
  const lock = new Database(lockPath);
  try {
    // An in-memory journal leaves no -journal file behind to look like leftover state.
    lock.exec("PRAGMA journal_mode=MEMORY");
    lock.exec("PRAGMA busy_timeout=0");
    lock.exec("BEGIN EXCLUSIVE");
    return lock;
  } catch (err) {
    lock.close();
    const code = (err as { code?: unknown }).code;
    if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") {
      throw new FailedPreconditionError(`datastore "${dbPath}" is in use by another process`, {
        code: "ERR_DATASTORE_LOCKED",
        cause: err,
      });
    }
    throw new InternalError(`cannot lock datastore "${dbPath}"`, { cause: err });
  }
}

/** A libsql connection behind the async SQLDriver port; every call is serialised through one queue. */
export class SQLiteDriver implements SQLDriver {
  readonly dialect = "sqlite" as const;
  readonly path: string;
  #db: Conn;
  #lock: Conn | undefined;
  #stmts = new Map<string, Stmt>();
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(path: string, db: Conn, lock: Conn | undefined) {
    this.path = path;
    this.#db = db;
    this.#lock = lock;
  }

  /**
   * Opens (creating when absent) the database at `path` with WAL, foreign keys and a busy timeout, after taking the
   * process lock. `":memory:"` opens a private in-memory database with no file and no lock.
   * @throws {FailedPreconditionError} code ERR_DATASTORE_LOCKED when another process has the database open
   */
  static async open(path: string, options: SQLiteDriverOptions = {}): Promise<SQLiteDriver> {
    const busyTimeout = Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000));
    if (path === ":memory:") {
      const db = new Database(path);
      db.exec(`PRAGMA foreign_keys=ON`);
      return new SQLiteDriver(path, db, undefined);
    }
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new InternalError(`cannot create the directory of datastore "${path}"`, { cause: err });
    }
    const lock = acquireProcessLock(path);
    let db: Conn | undefined;
    try {
      // SQLite gives the -wal and -shm files the mode of the database file, so they are 0600 as well.
      createPrivateFile(path);
      db = new Database(path);
      db.exec(`PRAGMA busy_timeout=${busyTimeout}`);
      db.prepare("PRAGMA journal_mode=WAL").all([]);
      db.exec("PRAGMA synchronous=FULL");
      db.exec("PRAGMA foreign_keys=ON");
      return new SQLiteDriver(path, db, lock);
    } catch (err) {
      db?.close();
      lock.close();
      if (err instanceof ServiceError) throw err;
      throw new InternalError(`cannot open datastore "${path}"`, { cause: translate(err) });
    }
  }

  exec(sql: string): Promise<void> {
    return this.#serial(() => this.#exec(sql));
  }

  query<T = Record<string, unknown>>(sql: string, params: readonly SQLValue[] = []): Promise<T[]> {
    return this.#serial(() => this.#query<T>(sql, params));
  }

  run(sql: string, params: readonly SQLValue[] = []): Promise<SQLRunResult> {
    return this.#serial(() => this.#run(sql, params));
  }

  transaction<T>(fn: (tx: SQLExecutor) => Promise<T>): Promise<T> {
    return this.#serial(async () => {
      let open = true;
      const guard = () => {
        if (!open) throw new InternalError("transaction used after it ended");
      };
      const tx: SQLExecutor = {
        exec: async (sql) => (guard(), this.#exec(sql)),
        query: async <R>(sql: string, params: readonly SQLValue[] = []) => (guard(), this.#query<R>(sql, params)),
        run: async (sql, params = []) => (guard(), this.#run(sql, params)),
      };
      this.#exec("BEGIN IMMEDIATE");
      try {
        const result = await fn(tx);
        this.#exec("COMMIT");
        return result;
      } catch (err) {
        if (this.#db.inTransaction) {
          try {
            this.#db.exec("ROLLBACK");
          } catch {
            // The original error says more than a failed rollback; SQLite rolls back on its own when it cannot.
          }
        }
        throw translate(err);
      } finally {
        open = false;
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail.catch(() => undefined);
    this.#stmts.clear();
    this.#db.close();
    this.#lock?.close();
    this.#lock = undefined;
  }

  #serial<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new UnavailableError("datastore is closed"));
    const p = this.#tail.then(fn);
    this.#tail = p.catch(() => undefined);
    return p;
  }

  #prepare(sql: string): Stmt {
    let stmt = this.#stmts.get(sql);
    if (stmt === undefined) {
      stmt = this.#db.prepare(toSQLite(sql));
      // Queries built from filters vary; a full cache is simply dropped rather than tracked for recency.
      if (this.#stmts.size >= STATEMENT_CACHE_LIMIT) this.#stmts.clear();
      this.#stmts.set(sql, stmt);
    }
    return stmt;
  }

  #exec(sql: string): void {
    try {
      this.#db.exec(sql);
    } catch (err) {
      throw translate(err);
    }
  }

  #query<T>(sql: string, params: readonly SQLValue[]): T[] {
    try {
      return normaliseRows<T>(this.#prepare(sql).all([...params]));
    } catch (err) {
      throw translate(err);
    }
  }

  #run(sql: string, params: readonly SQLValue[]): SQLRunResult {
    try {
      const r = this.#prepare(sql).run([...params]);
      return { changes: r.changes, lastInsertRowid: Number(r.lastInsertRowid) };
    } catch (err) {
      throw translate(err);
    }
  }
}
