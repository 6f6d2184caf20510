/** Attested nodes (agents) and their selectors in the SQL datastore. @module */
import { NotFoundError } from "../../../core/errors.ts";
import type { SQLDriver, SQLExecutor, SQLValue } from "../../../core/ports/sql_driver.ts";
import type { AttestedNode, Selector } from "../datastore.ts";
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

const COLUMNS =
  "spiffe_id, attestation_type, cert_serial, cert_not_after, new_cert_serial, new_cert_not_after, can_reattest, banned";
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
    n.spiffeID, n.attestationType, n.certSerial, n.certNotAfter, n.newCertSerial, n.newCertNotAfter,
    toFlag(n.canReattest), toFlag(n.banned),
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
    if (last === undefined || last.spiffeID !== r.spiffe_id) nodes.push((last = toNode(r, [])));
    if (r.type !== null && r.value !== null) last.selectors.push({ type: r.type, value: r.value });
  }
  return nodes;
}

export async function fetchAttestedNode(db: SQLDriver, spiffeID: string): Promise<AttestedNode | undefined> {
  return (await selectNodes(db, "WHERE n.spiffe_id = $1", [spiffeID]))[0];
}

export async function listAttestedNodes(db: SQLDriver): Promise<AttestedNode[]> {
  return selectNodes(db, "", []);
}

/**
 * Replaces every field of the node, selectors included.
 * @throws {NotFoundError} when no node has the SPIFFE ID
 */
export async function updateAttestedNode(db: SQLDriver, n: AttestedNode): Promise<AttestedNode> {
  return db.transaction(async (tx) => {
    const r = await tx.run(
      `UPDATE attested_nodes SET attestation_type = $2, cert_serial = $3, cert_not_after = $4, new_cert_serial = $5,
         new_cert_not_after = $6, can_reattest = $7, banned = $8
       WHERE spiffe_id = $1`,
      nodeParams(n),
    );
    if (r.changes === 0) throw new NotFoundError(`attested node "${n.spiffeID}" not found`);
    await tx.run(`DELETE FROM node_selectors WHERE spiffe_id = $1`, [n.spiffeID]);
    await insertSelectors(tx, n.spiffeID, n.selectors);
    return copyNode(n);
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
