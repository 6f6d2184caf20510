/** The KeyManager port (SPIRE's): named slots of signing keys, whose private part may live anywhere. @module */
import type { Signer } from "../../core/crypto/signer.ts";

/** SPIRE's key types; wisp signs with ECDSA P-256 only. */
export type KeyType = "ec-p256";

export interface Key {
  /** Slot id, e.g. "x509-CA-A", "JWT-Signer-B". */
  id: string;
  signer: Signer;
}

export interface KeyManager {
  /** Creates (or replaces) the key in slot `id` with a fresh key. */
  generateKey(id: string, keyType: KeyType): Promise<Key>;
  getKey(id: string): Promise<Key | undefined>;
  getKeys(): Promise<Key[]>;
}
