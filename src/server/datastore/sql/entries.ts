/** Registration entries and their change events in the SQL datastore. @module */
import { NotFoundError } from "../../../core/errors.ts";
import type { SQLDriver, SQLExecutor, SQLValue } from "../../../core/ports/sql_driver.ts";
import type { EntryEvent, ListEntriesFilter, NewRegistrationEntry, RegistrationEntry, Selector } from "../datastore.ts";
import { renameConflict, selectorSet, selectorsHash, toFlag, toNumber } from "./_codec.ts";

interface EntryRow {
  pk: unknown;
  id: string;
  spiffe_id: string;
  parent_id: string;
  selectors: string;
  x509_svid_ttl: unknown;
  jwt_svid_ttl: unknown;
  dns_names: string;
  hint: string;
  admin: unknown;
  downstream: unknown;
  revision_number: unknown;
  created_at: unknown;
  expires_at: unknown;
  federates_with: string;
}

const COLUMNS = "e.pk, e.id, e.spiffe_id, e.parent_id, e.selectors, e.x509_svid_ttl, e.jwt_svid_ttl, e.dns_names, e.hint, " +
  "e.admin, e.downstream, e.revision_number, e.created_at, e.expires_at, e.federates_with";

/** The same columns unqualified, for RETURNING (which cannot name a table alias in every dialect). */
const RETURNING = COLUMNS.replaceAll("e.", "");

const DUPLICATE = "entry already exists";

function toEntry(r: EntryRow): RegistrationEntry {
  return {
    id: r.id,
    spiffeID: r.spiffe_id,
    parentID: r.parent_id,
    selectors: JSON.parse(r.selectors) as Selector[],
    x509SVIDTTL: toNumber(r.x509_svid_ttl),
    jwtSVIDTTL: toNumber(r.jwt_svid_ttl),
    dnsNames: JSON.parse(r.dns_names) as string[],
    hint: r.hint,
    admin: toNumber(r.admin) !== 0,
    downstream: toNumber(r.downstream) !== 0,
    revisionNumber: toNumber(r.revision_number),
    createdAt: toNumber(r.created_at),
    expiresAt: toNumber(r.expires_at),
    federatesWith: JSON.parse(r.federates_with ?? "[]") as string[],
  };
}

/** Copies only the fields of the port's shape, so stray properties never reach the database. */
function cleanSelectors(selectors: readonly Selector[]): Selector[] {
  return selectors.map((s) => ({ type: s.type, value: s.value }));
}

async function insertSelectors(tx: SQLExecutor, pk: number, selectors: readonly Selector[]): Promise<void> {
  const set = selectorSet(selectors);
  if (set.length === 0) return;
  const params: SQLValue[] = [pk];
  const tuples = set.map((s) => {
    params.push(s.type, s.value);
    return `($1, $${params.length - 1}, $${params.length})`;
  });
  await tx.run(`INSERT INTO entry_selectors (entry_pk, type, value) VALUES ${tuples.join(", ")}`, params);
}

async function recordEvent(tx: SQLExecutor, entryID: string, now: number): Promise<void> {
  await tx.run(`INSERT INTO entry_events (entry_id, created_at) VALUES ($1, $2)`, [entryID, now]);
}

/** The stored form of a new entry: a fresh UUIDv4 id unless one is given, revision 0 and createdAt `now`. */
function newEntry(e: NewRegistrationEntry, now: number): RegistrationEntry {
  return {
    // "" counts as absent: that is what a protobuf request carries when the caller set no id.
    id: e.id || crypto.randomUUID(),
    spiffeID: e.spiffeID,
    parentID: e.parentID,
    selectors: cleanSelectors(e.selectors),
    x509SVIDTTL: e.x509SVIDTTL,
    jwtSVIDTTL: e.jwtSVIDTTL,
    dnsNames: [...e.dnsNames],
    hint: e.hint,
    admin: e.admin,
    downstream: e.downstream,
    revisionNumber: 0,
    createdAt: now,
    expiresAt: e.expiresAt ?? 0,
    federatesWith: [...(e.federatesWith ?? [])],
  };
}

/**
 * Writes a new entry, its selector rows and its event inside the caller's transaction, so that other writes (a join
 * token and its alias entry) can commit together with it.
 * @throws {AlreadyExistsError} "entry already exists" for the same parent, SPIFFE ID and selector set, or id
 */
export async function insertEntry(tx: SQLExecutor, e: NewRegistrationEntry, now: number): Promise<RegistrationEntry> {
  const entry = newEntry(e, now);
  const hash = await selectorsHash(entry.selectors);
  try {
    const rows = await tx.query<{ pk: unknown }>(
      `INSERT INTO registered_entries (id, spiffe_id, parent_id, selectors_hash, selectors, x509_svid_ttl,
         jwt_svid_ttl, dns_names, hint, admin, downstream, revision_number, created_at, expires_at, federates_with)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING pk`,
      [
        entry.id,
        entry.spiffeID,
        entry.parentID,
        hash,
        JSON.stringify(entry.selectors),
        entry.x509SVIDTTL,
        entry.jwtSVIDTTL,
        JSON.stringify(entry.dnsNames),
        entry.hint,
        toFlag(entry.admin),
        toFlag(entry.downstream),
        0,
        now,
        entry.expiresAt ?? 0,
        JSON.stringify(entry.federatesWith),
      ],
    );
    await insertSelectors(tx, toNumber(rows[0]?.pk), entry.selectors);
    await recordEvent(tx, entry.id, now);
  } catch (err) {
    renameConflict(DUPLICATE)(err);
  }
  return entry;
}

/**
 * Inserts an entry, its selectors and its event in one transaction.
 * @throws {AlreadyExistsError} "entry already exists" for the same parent, SPIFFE ID and selector set, or id
 */
export async function createEntry(db: SQLDriver, e: NewRegistrationEntry, now: number): Promise<RegistrationEntry> {
  return db.transaction((tx) => insertEntry(tx, e, now));
}

export async function fetchEntry(db: SQLDriver, id: string): Promise<RegistrationEntry | undefined> {
  const rows = await db.query<EntryRow>(`SELECT ${COLUMNS} FROM registered_entries e WHERE e.id = $1`, [id]);
  return rows[0] === undefined ? undefined : toEntry(rows[0]);
}

/** Entries matching every given filter field, oldest first. Each selector is one indexed semi-join. */
export async function listEntries(db: SQLDriver, filter: ListEntriesFilter = {}): Promise<RegistrationEntry[]> {
  const where: string[] = [];
  const params: SQLValue[] = [];
  if (filter.parentID !== undefined) {
    params.push(filter.parentID);
    where.push(`e.parent_id = $${params.length}`);
  }
  if (filter.spiffeID !== undefined) {
    params.push(filter.spiffeID);
    where.push(`e.spiffe_id = $${params.length}`);
  }
  for (const s of selectorSet(filter.selectors ?? [])) {
    params.push(s.type, s.value);
    const [t, v] = [params.length - 1, params.length];
    where.push(`e.pk IN (SELECT s.entry_pk FROM entry_selectors s WHERE s.type = $${t} AND s.value = $${v})`);
  }
  const sql = `SELECT ${COLUMNS} FROM registered_entries e` +
    (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
    ` ORDER BY e.pk`;
  return (await db.query<EntryRow>(sql, params)).map(toEntry);
}

/**
 * Replaces every field but id and createdAt, and bumps the revision.
 * @throws {NotFoundError} when no entry has the id
 * @throws {AlreadyExistsError} when the change would duplicate another entry
 */
export async function updateEntry(db: SQLDriver, e: RegistrationEntry, now: number): Promise<RegistrationEntry> {
  const selectors = cleanSelectors(e.selectors);
  const hash = await selectorsHash(selectors);
  return db
    .transaction(async (tx) => {
      const rows = await tx.query<EntryRow>(
        `UPDATE registered_entries SET spiffe_id = $2, parent_id = $3, selectors_hash = $4, selectors = $5,
           x509_svid_ttl = $6, jwt_svid_ttl = $7, dns_names = $8, hint = $9, admin = $10, downstream = $11,
           expires_at = $12, federates_with = $13, revision_number = revision_number + 1
         WHERE id = $1 RETURNING ${RETURNING}`,
        [
          e.id,
          e.spiffeID,
          e.parentID,
          hash,
          JSON.stringify(selectors),
          e.x509SVIDTTL,
          e.jwtSVIDTTL,
          JSON.stringify([...e.dnsNames]),
          e.hint,
          toFlag(e.admin),
          toFlag(e.downstream),
          e.expiresAt ?? 0,
          JSON.stringify([...(e.federatesWith ?? [])]),
        ],
      );
      const row = rows[0];
      if (row === undefined) throw new NotFoundError(`entry "${e.id}" not found`);
      const pk = toNumber(row.pk);
      await tx.run(`DELETE FROM entry_selectors WHERE entry_pk = $1`, [pk]);
      await insertSelectors(tx, pk, selectors);
      await recordEvent(tx, e.id, now);
      return toEntry(row);
    })
    .catch(renameConflict(DUPLICATE));
}

/**
 * Deletes an entry (its selectors go with it) and returns what it was.
 * @throws {NotFoundError} when no entry has the id
 */
export async function deleteEntry(db: SQLDriver, id: string, now: number): Promise<RegistrationEntry> {
  return db.transaction(async (tx) => {
    const rows = await tx.query<EntryRow>(
      `DELETE FROM registered_entries WHERE id = $1 RETURNING ${RETURNING}`,
      [id],
    );
    const row = rows[0];
    if (row === undefined) throw new NotFoundError(`entry "${id}" not found`);
    await recordEvent(tx, id, now);
    return toEntry(row);
  });
}

export async function listEntryEvents(db: SQLDriver, afterID: number, limit?: number): Promise<EntryEvent[]> {
  const rows = limit === undefined
    ? await db.query<{ id: unknown; entry_id: string }>(
      `SELECT id, entry_id FROM entry_events WHERE id > $1 ORDER BY id`,
      [afterID],
    )
    : await db.query<{ id: unknown; entry_id: string }>(
      `SELECT id, entry_id FROM entry_events WHERE id > $1 ORDER BY id LIMIT $2`,
      [afterID, limit],
    );
  return rows.map((r) => ({ id: toNumber(r.id), entryID: r.entry_id }));
}

export async function lastEntryEventID(db: SQLDriver): Promise<number> {
  const rows = await db.query<{ id: unknown }>(`SELECT MAX(id) AS id FROM entry_events`);
  return toNumber(rows[0]?.id);
}
