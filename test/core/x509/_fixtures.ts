/** Shared helpers for the x509 tests: real keys, a real CA, and an openssl runner over temp files. @module */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportSPKI, generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import { type Signer, webCryptoSigner } from "../../../src/core/crypto/signer.ts";
import { createSelfSignedCA, signIntermediateCA } from "../../../src/core/x509/ca_cert.ts";
import { LeafMinter } from "../../../src/core/x509/leaf_minter.ts";
import { toPEM } from "../../../src/core/x509/pem.ts";

export const NOW = new Date("2030-06-01T12:00:00Z");
export const HOUR = 3600_000;

export interface TestCA {
  signer: Signer;
  der: Uint8Array;
  minter: LeafMinter;
}

export async function newSigner(): Promise<Signer> {
  return webCryptoSigner(await generateKeyPair());
}

export async function newSPKI(): Promise<Uint8Array> {
  return exportSPKI((await generateKeyPair()).publicKey);
}

export async function newRootCA(trustDomain = "example.org", notAfter = new Date(NOW.getTime() + 24 * HOUR)) {
  const signer = await newSigner();
  const der = await createSelfSignedCA({ signer, trustDomain, notBefore: new Date(NOW.getTime() - HOUR), notAfter });
  return { signer, der, minter: await LeafMinter.create({ caCertDER: der, signer }) } satisfies TestCA;
}

export async function newIntermediateCA(root: TestCA, trustDomain = "example.org", pathLen?: number): Promise<TestCA> {
  const signer = await newSigner();
  const der = await signIntermediateCA({
    issuerCertDER: root.der,
    issuerSigner: root.signer,
    publicKeySPKI: signer.publicKeySPKI,
    trustDomain,
    notBefore: new Date(NOW.getTime() - HOUR),
    notAfter: new Date(NOW.getTime() + 12 * HOUR),
    ...(pathLen === undefined ? {} : { pathLen }),
  });
  return { signer, der, minter: await LeafMinter.create({ caCertDER: der, signer }) };
}

/** A temp dir for openssl files; `run` executes openssl there and returns stdout (throws on failure). */
export function opensslDir() {
  const dir = mkdtempSync(join(tmpdir(), "wisp-x509-"));
  return {
    dir,
    write(name: string, content: string | Uint8Array): string {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    },
    writePEM(name: string, ders: Uint8Array[], label = "CERTIFICATE"): string {
      return this.write(name, ders.map((d) => toPEM(d, label)).join(""));
    },
    run(args: string[]): string {
      return execFileSync("openssl", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    },
    cleanup(): void {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** openssl's -attime takes seconds since the epoch. */
export const AT = String(Math.floor(NOW.getTime() / 1000));

/** Awaits `fn` and checks that it fails with exactly this class, code and message. */
export async function expectError(
  fn: () => unknown,
  cls: new (...a: never[]) => Error,
  message: string,
  code?: string,
): Promise<Error> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof cls)) throw new Error(`expected ${cls.name} "${message}", got ${String(err)}`);
  if (err.message !== message) throw new Error(`expected message "${message}", got "${err.message}"`);
  if (code !== undefined && (err as { code?: string }).code !== code) {
    throw new Error(`expected code "${code}", got "${(err as { code?: string }).code}"`);
  }
  return err;
}
