/**
 * The KeyManager conformance suite (SPIRE keymanager/test/keymanagertest.go): memory, disk and aws_kms must all pass
 * it unchanged. It uses only the KeyManager port and verifies every signature with WebCrypto.
 * @module
 */
import { suite } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { derToRaw, importSPKI, verifyRaw } from "../../src/core/crypto/ec_p256.ts";
import { isP256SPKI } from "../../src/core/x509/mod.ts";
import type { KeyManager } from "../../src/server/keymanager/key_manager.ts";

/** A fresh KeyManager over empty storage. */
export interface OpenedKeyManager {
  km: KeyManager;
  /** A second instance over the same storage; absent for managers that keep nothing (memory). */
  reopen?: () => Promise<KeyManager>;
  cleanup(): Promise<void>;
}

/** Verifies a DER ECDSA signature from a Signer with WebCrypto. */
export async function verifies(spki: Uint8Array, signature: Uint8Array, data: Uint8Array): Promise<boolean> {
  const raw = derToRaw(signature);
  if (!raw) return false;
  return verifyRaw(await importSPKI(spki), raw, data);
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

export function keyManagerSuite(name: string, open: () => Promise<OpenedKeyManager>): void {
  const test = suite<OpenedKeyManager>(`key manager ${name}`, {} as OpenedKeyManager);
  test.before.each(async (ctx) => {
    Object.assign(ctx, await open());
  });
  test.after.each((ctx) => ctx.cleanup());

  test("generateKey() creates a P-256 key that getKey() returns", async ({ km }) => {
    const key = await km.generateKey("x509-CA-A", "ec-p256");
    assert.is(key.id, "x509-CA-A");
    assert.ok(isP256SPKI(key.signer.publicKeySPKI));
    const got = await km.getKey("x509-CA-A");
    assert.ok(got);
    assert.equal(got.signer.publicKeySPKI, key.signer.publicKeySPKI);
    assert.is(await km.getKey("x509-CA-B"), undefined);
  });

  test("getKeys() lists one key per slot id", async ({ km }) => {
    assert.equal(await km.getKeys(), []);
    await km.generateKey("x509-CA-A", "ec-p256");
    await km.generateKey("JWT-Signer-A", "ec-p256");
    assert.equal((await km.getKeys()).map((k) => k.id).sort(), ["JWT-Signer-A", "x509-CA-A"]);
  });

  test("generateKey() on an existing id replaces the key", async ({ km }) => {
    const first = await km.generateKey("x509-CA-A", "ec-p256");
    const second = await km.generateKey("x509-CA-A", "ec-p256");
    assert.is.not(hex(second.signer.publicKeySPKI), hex(first.signer.publicKeySPKI));
    assert.equal((await km.getKey("x509-CA-A"))!.signer.publicKeySPKI, second.signer.publicKeySPKI);
    assert.is((await km.getKeys()).length, 1);
  });

  test("signer.sign() returns a DER ECDSA P-256/SHA-256 signature that WebCrypto verifies", async ({ km }) => {
    const key = await km.generateKey("JWT-Signer-A", "ec-p256");
    const data = new TextEncoder().encode("to be signed by " + name);
    const sig = await key.signer.sign(data);
    assert.is(sig[0], 0x30, "DER SEQUENCE");
    assert.ok(await verifies(key.signer.publicKeySPKI, sig, data));
    assert.not.ok(await verifies(key.signer.publicKeySPKI, sig, new TextEncoder().encode("something else")));
  });

  test("keys persist: a second instance over the same storage signs with the same keys", async ({ km, reopen }) => {
    if (!reopen) return;
    const a = await km.generateKey("x509-CA-A", "ec-p256");
    const b = await km.generateKey("x509-CA-B", "ec-p256");
    await km.generateKey("x509-CA-B", "ec-p256").then((k) => Object.assign(b, k));
    const again = await reopen();
    const keys = new Map((await again.getKeys()).map((k) => [k.id, k]));
    assert.equal([...keys.keys()].sort(), ["x509-CA-A", "x509-CA-B"]);
    assert.equal(keys.get("x509-CA-A")!.signer.publicKeySPKI, a.signer.publicKeySPKI);
    assert.equal(keys.get("x509-CA-B")!.signer.publicKeySPKI, b.signer.publicKeySPKI, "the replacement survives, not the replaced key");
    const data = new TextEncoder().encode("after restart");
    assert.ok(await verifies(a.signer.publicKeySPKI, await keys.get("x509-CA-A")!.signer.sign(data), data));
  });

  test.run();
}
