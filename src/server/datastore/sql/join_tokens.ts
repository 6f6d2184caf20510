/** Single-use join tokens in the SQL datastore. @module */
import type { SQLDriver } from "../../../core/ports/sql_driver.ts";
import type { JoinToken, NewRegistrationEntry, RegistrationEntry } from "../datastore.ts";
import { renameConflict, toNumber } from "./_codec.ts";
import { insertEntry } from "./entries.ts";

const INSERT = `INSERT INTO join_tokens (token, expires_at) VALUES ($1, $2)`;

/**
 * Stores a token and, when given, its alias entry in one transaction: a crash never leaves a token whose alias
 * (the node ID an operator asked for) is missing, nor an alias whose token is.
 * @throws {AlreadyExistsError} "join token already exists" (the message leaves the secret out), or "entry already
 *   exists" for the alias
 */
export async function createJoinToken(
  db: SQLDriver,
  t: JoinToken,
  alias: NewRegistrationEntry | undefined,
  now: number,
): Promise<RegistrationEntry | undefined> {
  if (alias === undefined) {
    await db.run(INSERT, [t.token, t.expiresAt]).catch(renameConflict("join token already exists"));
    return undefined;
  }
  return db.transaction(async (tx) => {
    await tx.run(INSERT, [t.token, t.expiresAt]).catch(renameConflict("join token already exists"));
    return insertEntry(tx, alias, now);
  });
}

/**
 * Deletes and returns the token in one statement: of any number of concurrent takers, at most one gets a row back,
 * in any dialect, without an explicit transaction. Expiry is the caller's to judge.
 */
export async function takeJoinToken(db: SQLDriver, token: string): Promise<JoinToken | undefined> {
  const rows = await db.query<{ token: string; expires_at: unknown }>(
    `DELETE FROM join_tokens WHERE token = $1 RETURNING token, expires_at`,
    [token],
  );
  const row = rows[0];
  return row === undefined ? undefined : { token: row.token, expiresAt: toNumber(row.expires_at) };
}

/** Deletes tokens that expired before `expiresBefore` (unix seconds) and returns how many. */
export async function pruneJoinTokens(db: SQLDriver, expiresBefore: number): Promise<number> {
  const r = await db.run(`DELETE FROM join_tokens WHERE expires_at < $1`, [expiresBefore]);
  return r.changes;
}
