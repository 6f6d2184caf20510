/**
 * Trust bundles in the SQL datastore: one JSON document per trust domain plus its sequence number, changed only
 * inside a transaction so concurrent appends and prunes never lose each other's roots.
 * @module
 */
import type { SQLDriver, SQLExecutor } from "../../../core/ports/sql_driver.ts";
import type { Bundle, JWTKey } from "../datastore.ts";
import { certificateNotAfter, fromBase64, toBase64, toNumber } from "./_codec.ts";

/** Refresh hint of a bundle created without one (seconds), as in SPIRE. */
export const DEFAULT_REFRESH_HINT = 300;

/** The stored document: DER as base64 so it survives JSON and text columns in every dialect. */
interface BundleDoc {
  x509Authorities: string[];
  jwtKeys: { kid: string; publicKey: string; notAfter: number }[];
  refreshHint: number;
}

interface BundleRow {
  trust_domain: string;
  data: string;
  sequence: unknown;
}

function toBundle(r: BundleRow): Bundle {
  const doc = JSON.parse(r.data) as BundleDoc;
  return {
    trustDomain: r.trust_domain,
    x509Authorities: doc.x509Authorities.map(fromBase64),
    jwtKeys: doc.jwtKeys.map((k) => ({ kid: k.kid, publicKey: fromBase64(k.publicKey), notAfter: k.notAfter })),
    sequence: toNumber(r.sequence),
    refreshHint: doc.refreshHint,
  };
}

function toDoc(b: Bundle): string {
  const doc: BundleDoc = {
    x509Authorities: b.x509Authorities.map(toBase64),
    jwtKeys: b.jwtKeys.map((k) => ({ kid: k.kid, publicKey: toBase64(k.publicKey), notAfter: k.notAfter })),
    refreshHint: b.refreshHint,
  };
  return JSON.stringify(doc);
}

async function select(db: SQLExecutor, trustDomain: string): Promise<Bundle | undefined> {
  const rows = await db.query<BundleRow>(
    `SELECT trust_domain, data, sequence FROM bundles WHERE trust_domain = $1`,
    [trustDomain],
  );
  return rows[0] === undefined ? undefined : toBundle(rows[0]);
}

async function write(tx: SQLExecutor, b: Bundle, isNew: boolean): Promise<void> {
  if (isNew) {
    await tx.run(`INSERT INTO bundles (trust_domain, data, sequence) VALUES ($1, $2, $3)`, [
      b.trustDomain, toDoc(b), b.sequence,
    ]);
  } else {
    await tx.run(`UPDATE bundles SET data = $2, sequence = $3 WHERE trust_domain = $1`, [
      b.trustDomain, toDoc(b), b.sequence,
    ]);
  }
}

/** Roots deduplicated by their DER bytes, first occurrence wins. */
function addRoots(into: Uint8Array[], add: readonly Uint8Array[]): boolean {
  const seen = new Set(into.map(toBase64));
  let changed = false;
  for (const der of add) {
    const key = toBase64(der);
    if (seen.has(key)) continue;
    seen.add(key);
    into.push(new Uint8Array(der));
    changed = true;
  }
  return changed;
}

/** Keys deduplicated by kid: a kid already published keeps its first key. */
function addKeys(into: JWTKey[], add: readonly JWTKey[]): boolean {
  const seen = new Set(into.map((k) => k.kid));
  let changed = false;
  for (const k of add) {
    if (seen.has(k.kid)) continue;
    seen.add(k.kid);
    into.push({ kid: k.kid, publicKey: new Uint8Array(k.publicKey), notAfter: k.notAfter });
    changed = true;
  }
  return changed;
}

export async function fetchBundle(db: SQLDriver, trustDomain: string): Promise<Bundle | undefined> {
  return select(db, trustDomain);
}

export async function listBundles(db: SQLDriver): Promise<Bundle[]> {
  const rows = await db.query<BundleRow>(`SELECT trust_domain, data, sequence FROM bundles ORDER BY trust_domain`);
  return rows.map(toBundle);
}

/**
 * Merges roots and keys into the trust domain's bundle, creating it (sequence 1) when absent. The sequence moves only
 * when a root, a key or the refresh hint actually changed.
 */
export async function appendBundle(
  db: SQLDriver,
  b: Omit<Bundle, "sequence" | "refreshHint"> & { refreshHint?: number },
): Promise<Bundle> {
  return db.transaction(async (tx) => {
    const current = await select(tx, b.trustDomain);
    const next: Bundle = current ?? {
      trustDomain: b.trustDomain,
      x509Authorities: [],
      jwtKeys: [],
      sequence: 0,
      refreshHint: b.refreshHint ?? DEFAULT_REFRESH_HINT,
    };
    let changed = current === undefined;
    if (addRoots(next.x509Authorities, b.x509Authorities)) changed = true;
    if (addKeys(next.jwtKeys, b.jwtKeys)) changed = true;
    if (b.refreshHint !== undefined && b.refreshHint !== next.refreshHint) {
      next.refreshHint = b.refreshHint;
      changed = true;
    }
    if (!changed) return next;
    next.sequence += 1;
    await write(tx, next, current === undefined);
    return next;
  });
}

/**
 * Drops roots and JWT keys whose notAfter is before `expiresBefore` (unix seconds). When every root has expired the
 * one that expires last stays: a bundle without roots would make every SVID of the trust domain unverifiable.
 */
export async function pruneBundle(
  db: SQLDriver,
  trustDomain: string,
  expiresBefore: number,
): Promise<Bundle | undefined> {
  return db.transaction(async (tx) => {
    const current = await select(tx, trustDomain);
    if (current === undefined) return undefined;
    // A root whose DER cannot be read has no known expiry, so it is never the one pruned.
    const dated = current.x509Authorities.map((der) => ({ der, notAfter: certificateNotAfter(der) ?? Infinity }));
    let roots = dated.filter((r) => r.notAfter >= expiresBefore);
    if (roots.length === 0 && dated.length > 0) {
      roots = [dated.reduce((best, r) => (r.notAfter > best.notAfter ? r : best))];
    }
    const keys = current.jwtKeys.filter((k) => k.notAfter >= expiresBefore);
    if (roots.length === dated.length && keys.length === current.jwtKeys.length) return current;
    const next: Bundle = {
      ...current,
      x509Authorities: roots.map((r) => r.der),
      jwtKeys: keys,
      sequence: current.sequence + 1,
    };
    await write(tx, next, false);
    return next;
  });
}
