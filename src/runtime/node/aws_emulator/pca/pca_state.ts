/** Persistent ACM PCA state: the CA hierarchy (keys and certificates) and every issued certificate. @module */
import { randomBytes, randomUUID } from "node:crypto";
import { x509 } from "../../../../core/x509/_peculiar.ts";
import type { JsonStore } from "../json_store.ts";

export type CaStatus = "CREATING" | "PENDING_CERTIFICATE" | "ACTIVE" | "DELETED" | "DISABLED" | "EXPIRED" | "FAILED";
export const CA_STATUSES: readonly CaStatus[] = ["CREATING", "PENDING_CERTIFICATE", "ACTIVE", "DELETED", "DISABLED", "EXPIRED", "FAILED"];

/** A certificate authority the emulator operates. Times are epoch ms. */
export interface CaRecord {
  arn: string;
  type: "ROOT" | "SUBORDINATE";
  status: CaStatus;
  createdAt: number;
  lastStateChangeAt: number;
  /** The CA's own certificate, PEM without a trailing newline. */
  certificatePem: string;
  /** PKCS#8 DER of the CA's P-256 private key, base64. */
  privateKeyPkcs8: string;
  /** ARN of the CA that signed this one (subordinates only). */
  parentArn?: string;
  /** The CA certificate's basicConstraints pathLen, when it has one. */
  pathLen?: number;
  commonName: string;
  organization: string;
}

/** A certificate issued through IssueCertificate. Times are epoch ms. */
export interface IssuedRecord {
  arn: string;
  caArn: string;
  certificatePem: string;
  issuedAt: number;
  /** GetCertificate answers RequestInProgressException until this time. */
  readyAt: number;
  /** Idempotency key (token + request digest) and when it stops deduplicating. */
  idempotencyKey?: string;
  idempotencyUntil?: number;
}

interface CaFile {
  rootCaArn: string;
  subordinateCaArn: string;
  authorities: Record<string, CaRecord>;
}

const CA_FILE = "pca_authorities.json";
const CERT_FILE = "pca_certificates.json";
const YEAR_MS = 365 * 24 * 3600 * 1000;
const HOUR_MS = 3600 * 1000;
const P256 = { name: "ECDSA", namedCurve: "P-256" } as const;

/** A positive 128-bit serial as 32 lower-case hex digits (top bit clear so DER needs no sign byte). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x10;
  return b.toString("hex");
}

function toPem(cert: x509.X509Certificate): string {
  return cert.toString("pem").trim();
}

async function createHierarchy(region: string, accountId: string, now: number): Promise<CaFile> {
  const prefix = `arn:aws:acm-pca:${region}:${accountId}:certificate-authority/`;
  const rootKeys = (await crypto.subtle.generateKey(P256, true, ["sign", "verify"])) as CryptoKeyPair;
  const subKeys = (await crypto.subtle.generateKey(P256, true, ["sign", "verify"])) as CryptoKeyPair;
  // Backdated like PCA's own issuance so certificates issued with the default NotBefore (now − 60 min) nest inside.
  const notBefore = new Date(now - 2 * HOUR_MS);
  const usages = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature;
  const rootName = "CN=Wisp Emulator Root CA, O=wisp-aws-emulator";
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: rootName,
    notBefore,
    notAfter: new Date(now + 10 * YEAR_MS),
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
    keys: rootKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const sub = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: "CN=Wisp Emulator Subordinate CA, O=wisp-aws-emulator",
    issuer: root.subjectName,
    notBefore,
    notAfter: new Date(now + 9 * YEAR_MS),
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
    publicKey: subKeys.publicKey,
    signingKey: rootKeys.privateKey,
    extensions: [
      // pathLen 1 so the subordinate may still issue PathLen0 CA certificates (PCA rejects template pathLen ≥ issuer's)
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(usages, true),
      await x509.SubjectKeyIdentifierExtension.create(subKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const pkcs8 = async (k: CryptoKey) => Buffer.from(await crypto.subtle.exportKey("pkcs8", k)).toString("base64");
  const rootRec: CaRecord = {
    arn: prefix + randomUUID(),
    type: "ROOT",
    status: "ACTIVE",
    createdAt: now,
    lastStateChangeAt: now,
    certificatePem: toPem(root),
    privateKeyPkcs8: await pkcs8(rootKeys.privateKey),
    commonName: "Wisp Emulator Root CA",
    organization: "wisp-aws-emulator",
  };
  const subRec: CaRecord = {
    arn: prefix + randomUUID(),
    type: "SUBORDINATE",
    status: "ACTIVE",
    createdAt: now,
    lastStateChangeAt: now,
    certificatePem: toPem(sub),
    privateKeyPkcs8: await pkcs8(subKeys.privateKey),
    parentArn: rootRec.arn,
    pathLen: 1,
    commonName: "Wisp Emulator Subordinate CA",
    organization: "wisp-aws-emulator",
  };
  return { rootCaArn: rootRec.arn, subordinateCaArn: subRec.arn, authorities: { [rootRec.arn]: rootRec, [subRec.arn]: subRec } };
}

/** The CA hierarchy and the issued certificates, loaded from and saved to the data directory. */
export class PcaState {
  readonly #store: JsonStore;
  readonly #cas: CaFile;
  readonly #certs: Record<string, IssuedRecord>;
  readonly #keys = new Map<string, Promise<CryptoKey>>();

  private constructor(store: JsonStore, cas: CaFile, certs: Record<string, IssuedRecord>) {
    this.#store = store;
    this.#cas = cas;
    this.#certs = certs;
  }

  /** Loads the state, creating a root and a subordinate CA on first start. */
  static async open(store: JsonStore, opts: { region: string; accountId: string; now: number }): Promise<PcaState> {
    let cas = store.read<CaFile>(CA_FILE);
    if (!cas) {
      cas = await createHierarchy(opts.region, opts.accountId, opts.now);
      store.write(CA_FILE, cas);
    }
    return new PcaState(store, cas, store.read<Record<string, IssuedRecord>>(CERT_FILE) ?? {});
  }

  get rootCaArn(): string {
    return this.#cas.rootCaArn;
  }
  get subordinateCaArn(): string {
    return this.#cas.subordinateCaArn;
  }

  ca(arn: string): CaRecord | undefined {
    return this.#cas.authorities[arn];
  }

  /** Changes a CA's status (persisted). */
  setStatus(arn: string, status: CaStatus, now: number): void {
    const ca = this.#cas.authorities[arn];
    if (!ca) throw new RangeError(`unknown certificate authority "${arn}"`);
    ca.status = status;
    ca.lastStateChangeAt = now;
    this.#store.write(CA_FILE, this.#cas);
  }

  /** The CA's private key as a non-extractable WebCrypto signing key. */
  signingKey(ca: CaRecord): Promise<CryptoKey> {
    let k = this.#keys.get(ca.arn);
    if (!k) {
      k = crypto.subtle.importKey("pkcs8", Buffer.from(ca.privateKeyPkcs8, "base64"), P256, false, ["sign"]);
      this.#keys.set(ca.arn, k);
    }
    return k;
  }

  /** PEMs from `ca` up to the root: the issuing CA first, the root last. */
  chainFrom(ca: CaRecord): string[] {
    const out: string[] = [];
    for (let cur: CaRecord | undefined = ca; cur; cur = cur.parentArn ? this.ca(cur.parentArn) : undefined) {
      out.push(cur.certificatePem);
    }
    return out;
  }

  certificate(arn: string): IssuedRecord | undefined {
    return this.#certs[arn];
  }

  /** A live certificate issued under `key` (token + request digest) that is still inside its idempotency window. */
  findIdempotent(key: string, now: number): IssuedRecord | undefined {
    return Object.values(this.#certs).find((c) => c.idempotencyKey === key && (c.idempotencyUntil ?? 0) > now);
  }

  addCertificate(rec: IssuedRecord): void {
    this.#certs[rec.arn] = rec;
    this.#store.write(CERT_FILE, this.#certs);
  }
}
