/**
 * The SQL driver port: the few async calls the SQL datastore needs, so that server code never touches a native
 * database binding. SQLite (libsql) and PostgreSQL adapters implement it in src/runtime.
 *
 * Contract every adapter keeps:
 * - SQL is written with PostgreSQL-style numbered placeholders (`$1`, `$2`, … a number may repeat); an adapter whose
 *   engine spells them differently rewrites them (SQLite: `?1`, `?2`).
 * - Errors are ServiceErrors: a unique or primary-key violation is an AlreadyExistsError (code ERR_ALREADY_EXISTS),
 *   a lock wait that outlasted the busy timeout is an UnavailableError "datastore is busy", a closed driver is an
 *   UnavailableError "datastore is closed", anything else an InternalError whose cause is the engine's error.
 * - Calls are serialised per driver: while a transaction runs, other calls on the driver wait for it to end, so code
 *   inside `transaction` must use the `tx` it is given (calling the driver itself there would wait forever).
 * @module
 */

export type SQLDialect = "sqlite" | "postgres";

/** A value bound to a placeholder. Booleans are stored as 0/1 integers so both dialects read them alike. */
export type SQLValue = string | number | bigint | Uint8Array | null;

export interface SQLRunResult {
  /** Rows changed by the statement. */
  changes: number;
  /** SQLite's rowid of the last insert; 0 where the engine has none (use RETURNING for portable code). */
  lastInsertRowid: number;
}

/** What both a driver and a transaction can do. */
export interface SQLExecutor {
  /** Runs statements without parameters (schema changes); several may be separated by semicolons. */
  exec(sql: string): Promise<void>;
  /** Runs one statement and returns its rows (SELECT, or anything with RETURNING). */
  query<T = Record<string, unknown>>(sql: string, params?: readonly SQLValue[]): Promise<T[]>;
  /** Runs one statement that returns no rows. */
  run(sql: string, params?: readonly SQLValue[]): Promise<SQLRunResult>;
}

export interface SQLDriver extends SQLExecutor {
  readonly dialect: SQLDialect;
  /**
   * Runs `fn` in one write transaction (SQLite: BEGIN IMMEDIATE, so the write lock is taken up front and a busy
   * database fails at the start rather than at commit). Commits when `fn` resolves, rolls back when it throws.
   */
  transaction<T>(fn: (tx: SQLExecutor) => Promise<T>): Promise<T>;
  /** Waits for the running transaction, then releases the database and any process lock. */
  close(): Promise<void>;
}
