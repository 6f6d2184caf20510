/** Value encodings shared by the SQL tables: base64 for DER in JSON, 0/1 booleans, selector-set hashes. @module */
import { AlreadyExistsError } from "../../../core/errors.ts";
import { parseCertificate } from "../../../core/x509/certificate_info.ts";
import type { Selector } from "../datastore.ts";

export { fromBase64, toBase64 } from "../../../core/encoding.ts";

export function toFlag(b: boolean): number {
  return b ? 1 : 0;
}

/** Some drivers return 64-bit integers as strings or bigints; every integer column is read through this. */
export function toNumber(v: unknown): number {
  return v === null || v === undefined ? 0 : Number(v);
}

/** Distinct selectors in a stable order: the set semantics that duplicate detection and filters use. */
export function selectorSet(selectors: readonly Selector[]): Selector[] {
  const seen = new Map<string, Selector>();
  for (const s of selectors) seen.set(`${s.type}\u0000${s.value}`, { type: s.type, value: s.value });
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s);
}

/**
 * SHA-256 (hex) of the selector set, order- and duplicate-insensitive. A unique index over (parent, SPIFFE ID,
 * this hash) makes duplicate entries impossible even for concurrent writers, in any dialect.
 */
export async function selectorsHash(selectors: readonly Selector[]): Promise<string> {
  const canonical = JSON.stringify(selectorSet(selectors).map((s) => [s.type, s.value]));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** notAfter of a DER certificate in unix seconds, or undefined when the bytes are not a certificate. */
export function certificateNotAfter(der: Uint8Array): number | undefined {
  try {
    return Math.floor(parseCertificate(der).notAfter.getTime() / 1000);
  } catch {
    return undefined;
  }
}

/** Re-labels the driver's generic unique-constraint error with what the caller was creating. */
export function renameConflict(message: string): (err: unknown) => never {
  return (err) => {
    if (err instanceof AlreadyExistsError) throw new AlreadyExistsError(message, { cause: err.cause ?? err });
    throw err;
  };
}
