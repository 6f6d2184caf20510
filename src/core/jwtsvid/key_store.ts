/** JWT authorities by trust domain and key id, as SPIRE's jwtsvid.KeyStore, built from bundles or JWKS documents. @module */
import { type JWK, toJWKS } from "../bundle/spiffe_bundle.ts";
import { InvalidArgumentError } from "../errors.ts";
import * as spiffeid from "../spiffeid/mod.ts";

/** A JWT signing key as bundles carry it: key id and DER SubjectPublicKeyInfo. */
export interface JWTAuthority {
  kid: string;
  publicKey: Uint8Array;
}

export class JWTKeyStore {
  #tds = new Map<string, Map<string, JWK>>();

  /**
   * Builds a store from bundles; `trustDomain` may be a name ("example.org") or its ID ("spiffe://example.org").
   * @throws {SPIFFEIDError} for a malformed trust domain
   */
  static async fromBundles(bundles: { trustDomain: string; jwtKeys: JWTAuthority[] }[]): Promise<JWTKeyStore> {
    const store = new JWTKeyStore();
    for (const b of bundles) {
      const jwks = await toJWKS({
        trustDomain: b.trustDomain,
        x509Authorities: [],
        jwtKeys: b.jwtKeys.map((k) => ({ ...k, notAfter: 0 })),
        sequence: 0,
        refreshHint: 0,
      });
      store.addJWKS(b.trustDomain, jwks);
    }
    return store;
  }

  /** Adds a trust domain's JWKS (`{"keys":[…]}`); keys without a `kid` are skipped, as the bundle spec requires one. */
  addJWKS(trustDomain: string, jwks: { keys?: unknown }): void {
    const td = spiffeid.trustDomainFromString(trustDomain).name;
    if (!Array.isArray(jwks.keys)) throw new InvalidArgumentError(`JWKS for trust domain "${td}" has no "keys" list`);
    const keys = this.#tds.get(td) ?? new Map<string, JWK>();
    for (const k of jwks.keys as JWK[]) {
      if (typeof k?.kid === "string" && k.kid !== "" && typeof k.kty === "string") keys.set(k.kid, k);
    }
    this.#tds.set(td, keys);
  }

  /**
   * The key `kid` of trust domain `td` (a name).
   * @throws {InvalidArgumentError} `no keys found for trust domain "td"` or `public key "kid" not found in trust domain "td"`
   */
  findPublicKey(td: string, kid: string): JWK {
    const keys = this.#tds.get(td);
    if (!keys) throw new InvalidArgumentError(`no keys found for trust domain "${td}"`);
    const key = keys.get(kid);
    if (!key) throw new InvalidArgumentError(`public key "${kid}" not found in trust domain "${td}"`);
    return key;
  }
}
