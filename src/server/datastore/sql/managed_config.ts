/** Managed-config documents in the SQL datastore: one row per section, version bumped inside the write. @module */
import type { SQLDriver } from "../../../core/ports/sql_driver.ts";
import type { ManagedConfig } from "../datastore.ts";
import { toNumber } from "./_codec.ts";

/**
 * Upserts the section's document. The version is computed by the database in the same statement, so two servers
 * setting one section at once get versions n+1 and n+2, never the same one.
 */
export async function setManagedConfig(db: SQLDriver, section: string, document: string, now: number): Promise<ManagedConfig> {
  const rows = await db.transaction((tx) =>
    tx.query<{ version: unknown; updated_at: unknown }>(
      `INSERT INTO managed_configs (section, document, version, updated_at) VALUES ($1, $2, 1, $3)
       ON CONFLICT (section) DO UPDATE SET document = excluded.document,
         version = managed_configs.version + 1, updated_at = excluded.updated_at
       RETURNING version, updated_at`,
      [section, document, now],
    )
  );
  return { section, document, version: toNumber(rows[0]?.version), updatedAt: toNumber(rows[0]?.updated_at) };
}

export async function fetchManagedConfig(db: SQLDriver, section: string): Promise<ManagedConfig | undefined> {
  const rows = await db.query<{ document: string; version: unknown; updated_at: unknown }>(
    `SELECT document, version, updated_at FROM managed_configs WHERE section = $1`,
    [section],
  );
  const row = rows[0];
  return row === undefined ? undefined : { section, document: row.document, version: toNumber(row.version), updatedAt: toNumber(row.updated_at) };
}
