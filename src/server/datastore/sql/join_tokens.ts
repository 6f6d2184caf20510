/** Single-use join tokens in the SQL datastore. @module */
import type { SQLDriver } from "../../../core/ports/sql_driver.ts";
import type { JoinToken } from "../datastore.ts";
import { renameConflict, toNumber } from "./_codec.ts";

/** @throws {AlreadyExistsError} when the token exists (the message leaves the secret out) */
export async function createJoinToken(db: SQLDriver, t: JoinToken): Promise<void> {
  await db
    .run(`INSERT INTO join_tokens (token, expires_at) VALUES ($1, $2)`, [t.token, t.expiresAt])
    .catch(renameConflict("join token already exists"));
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
