/** CA journals in the SQL datastore: the CA manager's opaque documents, found by active X.509 authority. @module */
import type { SQLDriver } from "../../../core/ports/sql_driver.ts";
import type { CAJournal } from "../datastore.ts";
import { toNumber } from "./_codec.ts";

/**
 * Creates a journal when `id` is absent, else writes it under that id (creating or replacing). New ids are the
 * highest so far plus one, taken inside the write transaction: explicit ids may be inserted too, and an identity
 * sequence (PostgreSQL's does not move when an id is given) would later hand out an id that is already taken.
 */
export async function setCAJournal(db: SQLDriver, j: Omit<CAJournal, "id"> & { id?: number }): Promise<CAJournal> {
  const rows = await db.transaction((tx) =>
    j.id === undefined
      ? tx.query<{ id: unknown }>(
        `INSERT INTO ca_journals (id, active_x509_authority_id, data)
         SELECT COALESCE(MAX(id), 0) + 1, $1, $2 FROM ca_journals RETURNING id`,
        [j.activeX509AuthorityID, j.data],
      )
      : tx.query<{ id: unknown }>(
        `INSERT INTO ca_journals (id, active_x509_authority_id, data) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET active_x509_authority_id = excluded.active_x509_authority_id,
           data = excluded.data
         RETURNING id`,
        [j.id, j.activeX509AuthorityID, j.data],
      )
  );
  return { id: toNumber(rows[0]?.id), activeX509AuthorityID: j.activeX509AuthorityID, data: j.data };
}

/** The newest journal whose active X.509 authority is `activeX509AuthorityID`. */
export async function fetchCAJournal(db: SQLDriver, activeX509AuthorityID: string): Promise<CAJournal | undefined> {
  const rows = await db.query<{ id: unknown; active_x509_authority_id: string; data: string }>(
    `SELECT id, active_x509_authority_id, data FROM ca_journals WHERE active_x509_authority_id = $1
     ORDER BY id DESC LIMIT 1`,
    [activeX509AuthorityID],
  );
  const row = rows[0];
  return row === undefined ? undefined : { id: toNumber(row.id), activeX509AuthorityID: row.active_x509_authority_id, data: row.data };
}
