/**
 * Agent SVID chains already verified against the bundle, so an agent's repeated calls (sync reconnects, batch
 * signing, JWT-SVIDs, renewals) cost one signature check per certificate, not one per call. A chain is remembered
 * with the bundle sequence it was checked against (any bundle change, such as a revoked authority, verifies again)
 * until the leaf expires; the attested-node checks (ban, serial) still run on every call.
 * @module
 */
import { toBase64 } from "../../core/encoding.ts";

interface Verified {
  spiffeID: string;
  /** ms; after this the chain is checked again (and found expired). */
  notAfter: number;
}

export class VerifiedChains {
  /** Least recently used first. */
  #byKey = new Map<string, Verified>();
  #max: number;

  constructor(max = 20_000) {
    this.#max = max;
  }

  /** The cache key of a chain checked against one bundle sequence. */
  static key(chain: Uint8Array[], bundleSequence: number): string {
    return `${bundleSequence}|${chain.map(toBase64).join(",")}`;
  }

  /** The SPIFFE ID a verified chain proved, while it is still valid at `nowMs`. */
  get(key: string, nowMs: number): string | undefined {
    const v = this.#byKey.get(key);
    if (!v) return undefined;
    this.#byKey.delete(key);
    if (nowMs > v.notAfter) return undefined;
    this.#byKey.set(key, v);
    return v.spiffeID;
  }

  set(key: string, spiffeID: string, notAfter: number): void {
    this.#byKey.delete(key);
    this.#byKey.set(key, { spiffeID, notAfter });
    if (this.#byKey.size > this.#max) this.#byKey.delete(this.#byKey.keys().next().value!);
  }

  get size(): number {
    return this.#byKey.size;
  }
}
