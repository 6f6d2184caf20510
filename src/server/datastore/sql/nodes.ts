/** Attested nodes (agents) and their selectors in the SQL datastore. @module */
import { NotFoundError } from "../../../core/errors.ts";
import type { SQLDriver, SQLExecutor, SQLValue } from "../../../core/ports/sql_driver.ts";
import { InvalidArgumentError } from "../../../core/errors.ts";
import type { AttestedNode, ListAttestedNodesFilter, Selector } from "../datastore.ts";
import { renameConflict, toFlag, toNumber } from "./_codec.ts";

interface NodeRow {
  spiffe_id: string;
  attestation_type: string;
  cert_serial: string;
  cert_not_after: unknown;
  new_cert_serial: string;
  new_cert_not_after: unknown;
  can_reattest: unknown;
  banned: unknown;
}

interface SelectorRow {
  type: string;
  value: string;
}

const COLUMNS = "spiffe_id, attestation_type, cert_serial, cert_not_after, new_cert_serial, new_cert_not_after, can_reattest, banned";
const JOINED = COLUMNS.split(", ").map((c) => `n.${c}`).join(", ");

function toNode(r: NodeRow, selectors: Selector[]): AttestedNode {
  return {
    spiffeID: r.spiffe_id,
    attestationType: r.attestation_type,
    certSerial: r.cert_serial,
    certNotAfter: toNumber(r.cert_not_after),
    newCertSerial: r.new_cert_serial,
    newCertNotAfter: toNumber(r.new_cert_not_after),
    canReattest: toNumber(r.can_reattest) !== 0,
    banned: toNumber(r.banned) !== 0,
    selectors,
  };
}

function copyNode(n: AttestedNode): AttestedNode {
  return { ...n, selectors: n.selectors.map((s) => ({ type: s.type, value: s.value })) };
}

/** Selectors keep the order the attestor gave them, hence the position column. */
async function insertSelectors(tx: SQLExecutor, spiffeID: string, selectors: readonly Selector[]): Promise<void> {
  if (selectors.length === 0) return;
  const params: SQLValue[] = [spiffeID];
  const tuples = selectors.map((s, i) => {
    params.push(i, s.type, s.value);
    return `($1, $${params.length - 2}, $${params.length - 1}, $${params.length})`;
  });
  await tx.run(`INSERT INTO node_selectors (spiffe_id, position, type, value) VALUES ${tuples.join(", ")}`, params);
}

async function selectorsOf(tx: SQLExecutor, spiffeID: string): Promise<Selector[]> {
  const rows = await tx.query<SelectorRow>(
    `SELECT type, value FROM node_selectors WHERE spiffe_id = $1 ORDER BY position`,
    [spiffeID],
  );
  return rows.map((r) => ({ type: r.type, value: r.value }));
}

function nodeParams(n: AttestedNode): SQLValue[] {
  return [
    n.spiffeID,
    n.attestationType,
    n.certSerial,
    n.certNotAfter,
    n.newCertSerial,
    n.newCertNotAfter,
    toFlag(n.canReattest),
    toFlag(n.banned),
  ];
}

/** @throws {AlreadyExistsError} when a node with the SPIFFE ID exists */
export async function createAttestedNode(db: SQLDriver, n: AttestedNode): Promise<AttestedNode> {
  return db
    .transaction(async (tx) => {
      await tx.run(`INSERT INTO attested_nodes (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, nodeParams(n));
      await insertSelectors(tx, n.spiffeID, n.selectors);
      return copyNode(n);
    })
    .catch(renameConflict(`attested node "${n.spiffeID}" already exists`));
}

/** Nodes with their selectors from one joined statement, so both come from the same snapshot. */
async function selectNodes(db: SQLExecutor, where: string, params: SQLValue[]): Promise<AttestedNode[]> {
  const rows = await db.query<NodeRow & { type: string | null; value: string | null }>(
    `SELECT ${JOINED}, s.type, s.value FROM attested_nodes n
     LEFT JOIN node_selectors s ON s.spiffe_id = n.spiffe_id
     ${where} ORDER BY n.spiffe_id, s.position`,
    params,
  );
  const nodes: AttestedNode[] = [];
  for (const r of rows) {
    let last = nodes[nodes.length - 1];
    if (last === undefined || last.spiffeID !== r.spiffe_id) nodes.push(last = toNode(r, []));
    if (r.type !== null && r.value !== null) last.selectors.push({ type: r.type, value: r.value });
  }
  return nodes;
}

export async function fetchAttestedNode(db: SQLDriver, spiffeID: string): Promise<AttestedNode | undefined> {
  return (await selectNodes(db, "WHERE n.spiffe_id = $1", [spiffeID]))[0];
}

/**
 * The WHERE clause of a node filter, SPIRE's ListAttestedNodes semantics: every given criterion must hold. Selector
 * matches, against the node's own selectors: superset = has all of them, any = has at least one, exact = has all of
 * them and no other, subset = has at least one and no other (a node without selectors matches no selector filter).
 * @throws {InvalidArgumentError} "cannot list by empty selectors set"
 */
function nodeFilter(f: ListAttestedNodesFilter | undefined): { where: string; params: SQLValue[] } {
  const conds: string[] = [];
  const params: SQLValue[] = [];
  const p = (v: SQLValue) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (f?.attestationType !== undefined) conds.push(`n.attestation_type = ${p(f.attestationType)}`);
  if (f?.banned !== undefined) conds.push(`n.banned = ${p(toFlag(f.banned))}`);
  if (f?.canReattest !== undefined) conds.push(`n.can_reattest = ${p(toFlag(f.canReattest))}`);
  if (f?.expiresBefore !== undefined) conds.push(`n.cert_not_after < ${p(f.expiresBefore)}`);
  const m = f?.selectorMatch;
  if (m !== undefined) {
    if (m.selectors.length === 0) throw new InvalidArgumentError("cannot list by empty selectors set");
    const has = (s: Selector) =>
      `EXISTS (SELECT 1 FROM node_selectors s WHERE s.spiffe_id = n.spiffe_id AND s.type = ${p(s.type)} AND s.value = ${p(s.value)})`;
    if (m.match === "superset" || m.match === "exact") conds.push(...m.selectors.map(has));
    else conds.push(`(${m.selectors.map(has).join(" OR ")})`);
    if (m.match === "exact" || m.match === "subset") {
      const inSet = m.selectors.map((s) => `(o.type = ${p(s.type)} AND o.value = ${p(s.value)})`).join(" OR ");
      conds.push(`NOT EXISTS (SELECT 1 FROM node_selectors o WHERE o.spiffe_id = n.spiffe_id AND NOT (${inSet}))`);
    }
  }
  return { where: conds.length === 0 ? "" : `WHERE ${conds.join(" AND ")}`, params };
}

/** @throws {InvalidArgumentError} for a selector match without selectors */
export async function listAttestedNodes(db: SQLDriver, filter?: ListAttestedNodesFilter): Promise<AttestedNode[]> {
  const { where, params } = nodeFilter(filter);
  return selectNodes(db, where, params);
}

/** @throws {InvalidArgumentError} for a selector match without selectors */
export async function countAttestedNodes(db: SQLDriver, filter?: ListAttestedNodesFilter): Promise<number> {
  const { where, params } = nodeFilter(filter);
  const rows = await db.query<{ count: unknown }>(`SELECT COUNT(*) AS count FROM attested_nodes n ${where}`, params);
  return toNumber(rows[0]?.count);
}

/**
 * Bans a node the way SPIRE's BanAgent does: both serials become "" so no SVID of the agent is accepted any more,
 * and the node stays (with its selectors) until it is deleted, which is the only way to lift the ban.
 * @throws {NotFoundError} when no node has the SPIFFE ID
 */
export async function banAttestedNode(db: SQLDriver, spiffeID: string): Promise<AttestedNode> {
  return db.transaction(async (tx) => {
    const rows = await tx.query<NodeRow>(
      `UPDATE attested_nodes SET cert_serial = '', new_cert_serial = '', new_cert_not_after = 0, banned = 1
       WHERE spiffe_id = $1 RETURNING ${COLUMNS}`,
      [spiffeID],
    );
    const row = rows[0];
    if (row === undefined) throw new NotFoundError(`attested node "${spiffeID}" not found`);
    return toNode(row, await selectorsOf(tx, spiffeID));
  });
}

/**
 * Replaces every field of the node, selectors included, except that a ban sticks: a banned node keeps banned and
 * empty serials whatever the update says, so a renewal racing with `agent ban` cannot lift the ban.
 * @throws {NotFoundError} when no node has the SPIFFE ID
 */
export async function updateAttestedNode(db: SQLDriver, n: AttestedNode): Promise<AttestedNode> {
  return db.transaction(async (tx) => {
    // SET expressions read the row as it was before the update, in SQLite and PostgreSQL alike.
    const rows = await tx.query<NodeRow>(
      `UPDATE attested_nodes SET attestation_type = $2,
         cert_serial = CASE WHEN banned <> 0 THEN '' ELSE $3 END, cert_not_after = $4,
         new_cert_serial = CASE WHEN banned <> 0 THEN '' ELSE $5 END,
         new_cert_not_after = CASE WHEN banned <> 0 THEN 0 ELSE CAST($6 AS BIGINT) END,
         can_reattest = $7, banned = CASE WHEN banned <> 0 THEN banned ELSE $8 END
       WHERE spiffe_id = $1 RETURNING ${COLUMNS}`,
      nodeParams(n),
    );
    const row = rows[0];
    if (row === undefined) throw new NotFoundError(`attested node "${n.spiffeID}" not found`);
    await tx.run(`DELETE FROM node_selectors WHERE spiffe_id = $1`, [n.spiffeID]);
    await insertSelectors(tx, n.spiffeID, n.selectors);
    return toNode(row, n.selectors.map((s) => ({ type: s.type, value: s.value })));
  });
}

/** @throws {NotFoundError} when no node has the SPIFFE ID */
export async function deleteAttestedNode(db: SQLDriver, spiffeID: string): Promise<AttestedNode> {
  return db.transaction(async (tx) => {
    const selectors = await selectorsOf(tx, spiffeID);
    const rows = await tx.query<NodeRow>(`DELETE FROM attested_nodes WHERE spiffe_id = $1 RETURNING ${COLUMNS}`, [
      spiffeID,
    ]);
    const row = rows[0];
    if (row === undefined) throw new NotFoundError(`attested node "${spiffeID}" not found`);
    return toNode(row, selectors);
  });
}
