/**
 * Trust bundles in the SQL datastore: one JSON document per trust domain plus its sequence number, changed only
 * inside a transaction so concurrent appends and prunes never lose each other's roots.
 * @module
 */
import { InvalidArgumentError, NotFoundError } from "../../../core/errors.ts";
import type { SQLDriver, SQLExecutor } from "../../../core/ports/sql_driver.ts";
import { toHex } from "../../../core/encoding.ts";
import { parseCertificate } from "../../../core/x509/certificate_info.ts";
import type { Bundle, JWTKey } from "../datastore.ts";
import { certificateNotAfter, fromBase64, toBase64, toNumber } from "./_codec.ts";

/** Refresh hint of a bundle created without one (seconds), as in SPIRE. */
export const DEFAULT_REFRESH_HINT = 300;

/** The stored document: DER as base64 so it survives JSON and text columns in every dialect. */
interface BundleDoc {
  x509Authorities: string[];
  jwtKeys: { kid: string; publicKey: string; notAfter: number }[];
  refreshHint: number;
  taintedX509?: string[];
  taintedJWT?: string[];
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
    ...(doc.taintedX509?.length ? { taintedX509: doc.taintedX509 } : {}),
    ...(doc.taintedJWT?.length ? { taintedJWT: doc.taintedJWT } : {}),
  };
}

function toDoc(b: Bundle): string {
  const doc: BundleDoc = {
    x509Authorities: b.x509Authorities.map(toBase64),
    jwtKeys: b.jwtKeys.map((k) => ({ kid: k.kid, publicKey: toBase64(k.publicKey), notAfter: k.notAfter })),
    refreshHint: b.refreshHint,
    ...(b.taintedX509?.length ? { taintedX509: b.taintedX509 } : {}),
    ...(b.taintedJWT?.length ? { taintedJWT: b.taintedJWT } : {}),
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
      b.trustDomain,
      toDoc(b),
      b.sequence,
    ]);
  } else {
    await tx.run(`UPDATE bundles SET data = $2, sequence = $3 WHERE trust_domain = $1`, [
      b.trustDomain,
      toDoc(b),
      b.sequence,
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

/** Hex subject key ID of a DER certificate, or "" when it has none or cannot be read. */
export function subjectKeyID(der: Uint8Array): string {
  try {
    const ski = parseCertificate(der).ski;
    return ski ? toHex(ski) : "";
  } catch {
    return "";
  }
}

/** Reads, changes and writes one bundle in a transaction, bumping its sequence (SPIRE sqlstore taint/revoke). */
async function mutate(db: SQLDriver, trustDomain: string, fn: (b: Bundle) => void): Promise<Bundle> {
  return db.transaction(async (tx) => {
    const current = await select(tx, trustDomain);
    if (current === undefined) throw new NotFoundError("bundle not found");
    fn(current);
    current.sequence += 1;
    await write(tx, current, false);
    return current;
  });
}

/** Marks a root as tainted: agents then replace every SVID that chains to it. Texts are SPIRE's (sqlstore.go taintX509CA). */
export function taintX509CA(db: SQLDriver, trustDomain: string, ski: string): Promise<Bundle> {
  return mutate(db, trustDomain, (b) => {
    const tainted = new Set(b.taintedX509 ?? []);
    if (!b.x509Authorities.some((der) => subjectKeyID(der) === ski)) throw new NotFoundError("no ca found with provided subject key ID");
    if (tainted.has(ski)) throw new InvalidArgumentError("root CA is already tainted");
    b.taintedX509 = [...tainted, ski];
  });
}

/** Removes a tainted root from the bundle (SPIRE sqlstore.go revokeX509CA). */
export function revokeX509CA(db: SQLDriver, trustDomain: string, ski: string): Promise<Bundle> {
  return mutate(db, trustDomain, (b) => {
    const keep = b.x509Authorities.filter((der) => subjectKeyID(der) !== ski);
    if (keep.length === b.x509Authorities.length) throw new NotFoundError("no root CA found with provided subject key ID");
    if (!(b.taintedX509 ?? []).includes(ski)) throw new InvalidArgumentError("it is not possible to revoke an untainted root CA");
    b.x509Authorities = keep;
    b.taintedX509 = (b.taintedX509 ?? []).filter((s) => s !== ski);
  });
}

/** Marks a JWT key as tainted (SPIRE sqlstore.go taintJWTKey). */
export function taintJWTKey(db: SQLDriver, trustDomain: string, kid: string): Promise<Bundle> {
  return mutate(db, trustDomain, (b) => {
    if (!b.jwtKeys.some((k) => k.kid === kid)) throw new NotFoundError("no JWT Key found with provided key ID");
    if ((b.taintedJWT ?? []).includes(kid)) throw new InvalidArgumentError("key is already tainted");
    b.taintedJWT = [...(b.taintedJWT ?? []), kid];
  });
}

/** Removes a tainted JWT key from the bundle (SPIRE sqlstore.go revokeJWTKey). */
export function revokeJWTKey(db: SQLDriver, trustDomain: string, kid: string): Promise<Bundle> {
  return mutate(db, trustDomain, (b) => {
    if (!b.jwtKeys.some((k) => k.kid === kid)) throw new NotFoundError("no JWT Key found with provided key ID");
    if (!(b.taintedJWT ?? []).includes(kid)) throw new InvalidArgumentError("it is not possible to revoke an untainted key");
    b.jwtKeys = b.jwtKeys.filter((k) => k.kid !== kid);
    b.taintedJWT = (b.taintedJWT ?? []).filter((k) => k !== kid);
  });
}

function sameContent(a: Bundle, b: Omit<Bundle, "sequence">): boolean {
  return toDoc({ ...a, sequence: 0 }) === toDoc({ ...b, sequence: 0 });
}

/**
 * Replaces a bundle whole, as SPIRE's SetBundle does for foreign trust domains. The stored sequence is the caller's
 * when given and ahead (the foreign `spiffe_sequence`), else the current one bumped; an unchanged bundle is not
 * rewritten whatever sequence comes with it, so pollers see no change.
 */
export async function setBundle(db: SQLDriver, b: Omit<Bundle, "sequence"> & { sequence?: number }): Promise<Bundle> {
  return db.transaction(async (tx) => {
    const current = await select(tx, b.trustDomain);
    if (current !== undefined && sameContent(current, b)) return current;
    const next: Bundle = {
      trustDomain: b.trustDomain,
      x509Authorities: b.x509Authorities.map((d) => new Uint8Array(d)),
      jwtKeys: b.jwtKeys.map((k) => ({ kid: k.kid, publicKey: new Uint8Array(k.publicKey), notAfter: k.notAfter })),
      // The local change counter must move even when a foreign server keeps its sequence: pollers compare it.
      sequence: Math.max(b.sequence ?? 0, (current?.sequence ?? 0) + 1),
      refreshHint: b.refreshHint,
      ...(b.taintedX509?.length ? { taintedX509: [...b.taintedX509] } : {}),
      ...(b.taintedJWT?.length ? { taintedJWT: [...b.taintedJWT] } : {}),
    };
    await write(tx, next, current === undefined);
    return next;
  });
}

/** @throws {NotFoundError} "bundle not found" */
export async function deleteBundle(db: SQLDriver, trustDomain: string): Promise<void> {
  await db.transaction(async (tx) => {
    if ((await select(tx, trustDomain)) === undefined) throw new NotFoundError("bundle not found");
    await tx.run(`DELETE FROM bundles WHERE trust_domain = $1`, [trustDomain]);
  });
}
