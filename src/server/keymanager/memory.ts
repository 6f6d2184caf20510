/** KeyManager "memory": WebCrypto keys that live as long as the process (a restart mints a new CA). @module */
import { generateKeyPair } from "../../core/crypto/ec_p256.ts";
import { webCryptoSigner } from "../../core/crypto/signer.ts";
import type { Key, KeyManager, KeyType } from "./key_manager.ts";

export class MemoryKeyManager implements KeyManager {
  #keys = new Map<string, Key>();

  async generateKey(id: string, _keyType: KeyType): Promise<Key> {
    // Non-extractable: nothing in the process needs the private bytes of a memory CA key.
    const key = { id, signer: await webCryptoSigner(await generateKeyPair(false)) };
    this.#keys.set(id, key);
    return key;
  }
  async getKey(id: string): Promise<Key | undefined> {
    return this.#keys.get(id);
  }
  async getKeys(): Promise<Key[]> {
    return [...this.#keys.values()];
  }
}
