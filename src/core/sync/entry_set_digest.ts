/**
 * An order-independent digest of an agent's entry set ({entry ID → revision}), computed alike by server and agent:
 * the XOR of a 64-bit hash of every `id\nrevision`. XOR makes it incremental (adding and removing an entry are the
 * same operation), so neither side rebuilds it per change. It detects divergence; it is not a security check (the
 * stream is already authenticated), so a fast non-cryptographic hash is enough.
 * @module
 */

/** Two independent 32-bit FNV-1a style hashes of the string (64 bits in all). */
export function hash64(s: string): [number, number] {
  let h1 = 0x811c9dc5;
  let h2 = 0x9e3779b9 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x85ebca6b);
  h1 ^= h1 >>> 13;
  h2 = Math.imul(h2 ^ (h2 >>> 16), 0xc2b2ae35);
  h2 ^= h2 >>> 16;
  return [h1 >>> 0, h2 >>> 0];
}

export class EntrySetDigest {
  #a = 0;
  #b = 0;

  /** Adds or removes (the same operation) one entry at one revision. */
  toggle(entryID: string, revision: number): void {
    const [x, y] = hash64(`${entryID}\n${revision}`);
    this.#a = (this.#a ^ x) >>> 0;
    this.#b = (this.#b ^ y) >>> 0;
  }

  /** 16 lowercase hex digits; "0000000000000000" for the empty set. */
  hex(): string {
    return hex64([this.#a, this.#b]);
  }

  static of(entries: Iterable<readonly [string, number]>): EntrySetDigest {
    const d = new EntrySetDigest();
    for (const [id, rev] of entries) d.toggle(id, rev);
    return d;
  }
}

/** 16 lowercase hex digits of a hash64 value. */
export function hex64([a, b]: [number, number]): string {
  return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
}
