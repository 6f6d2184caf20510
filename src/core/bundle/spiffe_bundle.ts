/**
 * SPIFFE bundles as JWK sets (SPIFFE Trust Domain and Bundle §4) and the JWKS-only form the Workload API serves.
 * https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE_Trust_Domain_and_Bundle.md
 * @module
 */
import { fromBase64, toBase64 } from "../encoding.ts";
import { InvalidArgumentError } from "../errors.ts";

export interface BundleData {
  trustDomain: string;
  x509Authorities: Uint8Array[];
  jwtKeys: { kid: string; publicKey: Uint8Array; notAfter: number }[];
  sequence: number;
  refreshHint: number;
}

export interface JWK {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  kid?: string;
  use?: string;
  x5c?: string[];
}

async function spkiToJWK(spki: Uint8Array): Promise<JWK> {
  const key = await crypto.subtle.importKey("spki", spki as BufferSource, { name: "ECDSA", namedCurve: "P-256" }, true, [
    "verify",
  ]);
  const jwk = (await crypto.subtle.exportKey("jwk", key)) as JsonWebKey;
  return { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y! };
}

/** The x5c entry's public key is not needed by consumers (they read x5c[0]) but the spec's JWK needs kty. */
export async function toSPIFFEBundle(b: BundleData): Promise<{ keys: JWK[]; spiffe_sequence: number; spiffe_refresh_hint: number }> {
  const keys: JWK[] = [];
  for (const der of b.x509Authorities) keys.push({ use: "x509-svid", kty: "EC", x5c: [toBase64(der)] });
  for (const k of b.jwtKeys) keys.push({ use: "jwt-svid", kid: k.kid, ...(await spkiToJWK(k.publicKey)) });
  return { keys, spiffe_sequence: b.sequence, spiffe_refresh_hint: b.refreshHint };
}

/** The JWKS the Workload API serves in JWT bundles: JWT keys only, no `use` (SPIRE: "standard JWKS"). */
export async function toJWKS(b: BundleData): Promise<{ keys: JWK[] }> {
  const keys: JWK[] = [];
  for (const k of b.jwtKeys) keys.push({ kid: k.kid, ...(await spkiToJWK(k.publicKey)) });
  return { keys };
}

/** Reads the X.509 authorities out of a SPIFFE bundle JSON document. @throws {InvalidArgumentError} */
export function x509AuthoritiesFromSPIFFEBundle(doc: unknown): Uint8Array[] {
  const keys = (doc as { keys?: unknown })?.keys;
  if (!Array.isArray(keys)) throw new InvalidArgumentError('bundle: missing "keys"');
  const out: Uint8Array[] = [];
  for (const k of keys as JWK[]) {
    if (k?.use !== "x509-svid") continue;
    if (!Array.isArray(k.x5c) || k.x5c.length !== 1) throw new InvalidArgumentError("bundle: x509-svid key must have exactly one x5c entry");
    out.push(fromBase64(k.x5c[0]!));
  }
  return out;
}
