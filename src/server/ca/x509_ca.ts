/** Minting one X.509 CA for a slot: fresh key, then self-signed or signed by the upstream authority. @module */
import type { Signer } from "../../core/crypto/signer.ts";
import { equalBytes, keyIdentifier, toHex } from "../../core/encoding.ts";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { TrustDomain } from "../../core/spiffeid/mod.ts";
import { createCACSR, createSelfSignedCA, LeafMinter, type NameInput, parseCertificate } from "../../core/x509/mod.ts";
import type { KeyManager } from "../keymanager/key_manager.ts";
import type { UpstreamAuthority } from "../upstreamauthority/upstream_authority.ts";
import type { SlotID } from "./journal.ts";

/** SPIRE backdates NotBefore by 10 s so slightly slow clocks accept new certificates. */
export const NOT_BEFORE_CUSHION_MS = 10_000;

export interface X509CA {
  slot: SlotID;
  certDER: Uint8Array;
  /** The CA certificate followed by upstream intermediates: what every SVID chain carries after the leaf. */
  chain: Uint8Array[];
  /** Roots this CA adds to the bundle (itself when self-signed, the upstream roots otherwise). */
  bundleRoots: Uint8Array[];
  signer: Signer;
  issuedAt: Date;
  notAfter: Date;
  /** Hex SKI of the CA key. */
  authorityID: string;
  minter: LeafMinter;
}

/** Builds an X509CA around an existing certificate and key (after minting, or when loading the journal). */
export async function x509CAFromParts(p: {
  slot: SlotID;
  chain: Uint8Array[];
  bundleRoots: Uint8Array[];
  signer: Signer;
  issuedAt: Date;
}): Promise<X509CA> {
  const certDER = p.chain[0]!;
  const info = parseCertificate(certDER);
  return {
    slot: p.slot,
    certDER,
    chain: p.chain,
    bundleRoots: p.bundleRoots,
    signer: p.signer,
    issuedAt: p.issuedAt,
    notAfter: info.notAfter,
    authorityID: toHex(await keyIdentifier(p.signer.publicKeySPKI)),
    minter: await LeafMinter.create({ caCertDER: certDER, signer: p.signer, chain: p.chain.slice(1) }),
  };
}

/** True when the certificate names itself as issuer: a self-signed root, not a CA an upstream signed. */
export function isSelfSignedCA(der: Uint8Array): boolean {
  const info = parseCertificate(der);
  return info.issuerDER.length === info.subjectDER.length && info.issuerDER.every((b, i) => b === info.subjectDER[i]);
}

/** Generates a fresh key in the slot and gets a CA certificate for it. */
export async function mintX509CA(cfg: {
  slot: SlotID;
  trustDomain: TrustDomain;
  keyManager: KeyManager;
  clock: Clock;
  caTTL: number;
  /** SPIRE's `ca_subject`, on the self-signed CA and on the CSR sent upstream. Default C=US, O=SPIFFE. */
  caSubject?: NameInput | undefined;
  upstream?: UpstreamAuthority | undefined;
}): Promise<X509CA> {
  const now = cfg.clock.now();
  const key = await cfg.keyManager.generateKey(`x509-CA-${cfg.slot}`, "ec-p256");
  if (!cfg.upstream) {
    const der = await createSelfSignedCA({
      signer: key.signer,
      trustDomain: cfg.trustDomain.name,
      notBefore: new Date(now.getTime() - NOT_BEFORE_CUSHION_MS),
      notAfter: new Date(now.getTime() + cfg.caTTL),
      ...(cfg.caSubject ? { subject: cfg.caSubject } : {}),
    });
    return x509CAFromParts({ slot: cfg.slot, chain: [der], bundleRoots: [der], signer: key.signer, issuedAt: now });
  }
  const csr = await createCACSR({ signer: key.signer, trustDomain: cfg.trustDomain.name, ...(cfg.caSubject ? { subject: cfg.caSubject } : {}) });
  const minted = await cfg.upstream.mintX509CA(csr, Math.floor(cfg.caTTL / 1000));
  const ca = await x509CAFromParts({
    slot: cfg.slot,
    chain: minted.x509CAChain,
    bundleRoots: minted.upstreamX509Roots,
    signer: key.signer,
    issuedAt: now,
  });
  validateUpstreamCA(ca, key.signer, now);
  return ca;
}

/** Checks what an upstream returned before trusting it (SPIRE ca/validation.go). */
function validateUpstreamCA(ca: X509CA, signer: Signer, now: Date): void {
  const info = parseCertificate(ca.certDER);
  const problems: string[] = [];
  if (!info.isCA) problems.push("certificate is not a CA");
  if (!equalBytes(info.spki, signer.publicKeySPKI)) problems.push("public key does not match the CSR key");
  if (info.notBefore.getTime() > now.getTime() + 60_000 || info.notAfter.getTime() <= now.getTime()) {
    problems.push("certificate is not valid now");
  }
  if (problems.length > 0) {
    throw new InvalidArgumentError(`X509 CA minted by upstream authority is invalid: ${problems.join(", ")}`);
  }
}
