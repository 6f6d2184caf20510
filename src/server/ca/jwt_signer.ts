/** Signing JWT-SVIDs (ES256) with the active JWT key, with SPIRE's claims and TTL rules. @module */
import { base64url } from "jose";
import type { Signer } from "../../core/crypto/signer.ts";
import { derToRaw } from "../../core/crypto/ec_p256.ts";
import { InternalError, InvalidArgumentError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { JWTSigningKey } from "./jwt_key.ts";

export interface JWTSVIDParams {
  spiffeID: string;
  audience: string[];
  /** Seconds; 0 or absent means the default TTL. */
  ttl?: number;
}

export interface IssuedJWTSVID {
  token: string;
  issuedAt: Date;
  expiresAt: Date;
}

/**
 * Builds a JWS Compact token by hand. `jose` cannot sign here because the private key may live in a KMS and only a
 * `Signer` (which returns a DER ECDSA signature) is available; JWS wants the raw r||s form (RFC 7518 §3.4).
 * Tokens are still verified with `jose` everywhere they are checked.
 */
export async function encodeES256JWS(signer: Signer, header: Record<string, unknown>, claims: Record<string, unknown>): Promise<string> {
  const enc = new TextEncoder();
  const input = `${base64url.encode(enc.encode(JSON.stringify({ ...header, alg: "ES256" })))}.${base64url.encode(enc.encode(JSON.stringify(claims)))}`;
  const raw = derToRaw(await signer.sign(enc.encode(input)));
  if (!raw) throw new InternalError("JWT signing key returned a malformed ECDSA signature");
  return `${input}.${base64url.encode(raw)}`;
}

export class JWTSVIDSigner {
  #keys: { currentJWTKey(): JWTSigningKey };
  #clock: Clock;
  #defaultTTL: number;
  #issuer: string | undefined;

  /** `defaultTTL` in ms (server `default_jwt_svid_ttl`); `issuer` is `jwt_issuer`, the `iss` claim when set. */
  constructor(cfg: { keys: { currentJWTKey(): JWTSigningKey }; clock: Clock; defaultTTL: number; issuer?: string | undefined }) {
    this.#keys = cfg.keys;
    this.#clock = cfg.clock;
    this.#defaultTTL = cfg.defaultTTL;
    this.#issuer = cfg.issuer || undefined;
  }

  /**
   * Signs a JWT-SVID; `exp` is capped at the signing key's NotAfter, as SPIRE caps it.
   * @throws {InvalidArgumentError} "audience must be specified"
   * @throws {UnavailableError} when no JWT key is active
   */
  async sign(p: JWTSVIDParams): Promise<IssuedJWTSVID> {
    if (p.audience.length === 0 || p.audience.some((a) => a === "")) throw new InvalidArgumentError("audience must be specified");
    const key = this.#keys.currentJWTKey();
    const now = this.#clock.now().getTime();
    const ttl = p.ttl && p.ttl > 0 ? p.ttl * 1000 : this.#defaultTTL;
    const iat = Math.floor(now / 1000);
    const exp = Math.floor(Math.min(now + ttl, key.notAfter.getTime()) / 1000);
    // SPIRE always encodes aud as a list, even for one value.
    const claims: Record<string, unknown> = { aud: p.audience, exp, iat, ...(this.#issuer ? { iss: this.#issuer } : {}), sub: p.spiffeID };
    const token = await encodeES256JWS(key.signer, { alg: "ES256", kid: key.kid, typ: "JWT" }, claims);
    return { token, issuedAt: new Date(iat * 1000), expiresAt: new Date(exp * 1000) };
  }
}
