/** KeyManager "disk": keys kept as PKCS#8 in one JSON file (mode 0600) so a restart reuses its CA. @module */
import { exportPKCS8, generateKeyPair, importPKCS8, importSPKI } from "../../core/crypto/ec_p256.ts";
import { webCryptoSigner } from "../../core/crypto/signer.ts";
import { fromBase64, toBase64 } from "../../core/encoding.ts";
import { InternalError, NotFoundError } from "../../core/errors.ts";
import type { FS } from "../../core/ports/fs.ts";
import type { Key, KeyManager, KeyType } from "./key_manager.ts";

interface KeysFile {
  keys: Record<string, { type: KeyType; pkcs8: string; spki: string }>;
}

export class DiskKeyManager implements KeyManager {
  #fs: FS;
  #path: string;
  #keys = new Map<string, Key>();
  #file: KeysFile = { keys: {} };
  #loaded = false;

  constructor(cfg: { fs: FS; keysPath: string }) {
    this.#fs = cfg.fs;
    this.#path = cfg.keysPath;
  }

  async #load(): Promise<void> {
    if (this.#loaded) return;
    let raw: Uint8Array | undefined;
    try {
      raw = await this.#fs.readFile(this.#path);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    if (raw) {
      try {
        this.#file = JSON.parse(new TextDecoder().decode(raw)) as KeysFile;
        for (const [id, k] of Object.entries(this.#file.keys)) {
          const privateKey = await importPKCS8(fromBase64(k.pkcs8), false);
          const publicKey = await importSPKI(fromBase64(k.spki));
          this.#keys.set(id, { id, signer: await webCryptoSigner({ privateKey, publicKey }) });
        }
      } catch (cause) {
        throw new InternalError(`failed to load keys from "${this.#path}"`, { cause });
      }
    }
    this.#loaded = true;
  }

  async generateKey(id: string, keyType: KeyType): Promise<Key> {
    await this.#load();
    const pair = await generateKeyPair(true);
    const signer = await webCryptoSigner(pair);
    const pkcs8 = await exportPKCS8(pair.privateKey);
    const next: KeysFile = { keys: { ...this.#file.keys, [id]: { type: keyType, pkcs8: toBase64(pkcs8), spki: toBase64(signer.publicKeySPKI) } } };
    // Persist before use: a key that signed a CA but was never saved would orphan that CA on restart.
    await this.#fs.mkdir(this.#fs.dirname(this.#path), 0o700);
    await this.#fs.writeFileAtomic(this.#path, JSON.stringify(next), 0o600);
    this.#file = next;
    const key = { id, signer: await webCryptoSigner({ privateKey: await importPKCS8(pkcs8, false), publicKey: pair.publicKey }) };
    this.#keys.set(id, key);
    return key;
  }

  async getKey(id: string): Promise<Key | undefined> {
    await this.#load();
    return this.#keys.get(id);
  }

  async getKeys(): Promise<Key[]> {
    await this.#load();
    return [...this.#keys.values()];
  }
}
