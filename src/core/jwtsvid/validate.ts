/**
 * JWT-SVID validation with SPIRE's rules and messages (pkg/common/jwtsvid/validate.go): shape checks, key lookup by
 * trust domain and kid, the signature through `jose`, then exp/nbf/iat with go-jose's one-minute leeway and the audience.
 * @module
 */
import { compactVerify, errors as joseErrors, importJWK } from "jose";
import type { JWK } from "../bundle/spiffe_bundle.ts";
import { InvalidArgumentError } from "../errors.ts";
import * as spiffeid from "../spiffeid/mod.ts";
import type { JWTKeyStore } from "./key_store.ts";
import { type JWTClaims, parseJWT, quoteList } from "./parse.ts";

/** go-jose's jwt.DefaultLeeway, which SPIRE's validator inherits. */
export const DEFAULT_LEEWAY_MS = 60_000;

export interface ValidatedJWTSVID {
  spiffeID: spiffeid.ID;
  /** Every claim of the token, as signed. */
  claims: JWTClaims;
  audience: string[];
  expiresAt: Date;
}

async function verifySignature(token: string, alg: string, jwk: JWK): Promise<void> {
  try {
    const key = await importJWK(jwk, alg);
    await compactVerify(token, key, { algorithms: [alg] });
  } catch (cause) {
    // A bad signature and a key that cannot sign with `alg` are both go-jose's "error in cryptographic primitive".
    const why = cause instanceof joseErrors.JWSSignatureVerificationFailed || cause instanceof TypeError || (cause as Error)?.name === "DataError"
      ? "error in cryptographic primitive"
      : String((cause as Error)?.message ?? cause);
    throw new InvalidArgumentError(`unable to get claims from token: ${why}`, { cause });
  }
}

/**
 * Validates `token` for any of `audience` at `now`.
 * @throws {InvalidArgumentError} with SPIRE's reason, e.g. "token has expired",
 *   `expected audience in ["b"] (audience=["a"])`, `public key "k" not found in trust domain "example.org"`
 */
export async function validateJWTSVID(
  token: string,
  store: JWTKeyStore,
  audience: readonly string[],
  now: Date,
  leewayMs = DEFAULT_LEEWAY_MS,
): Promise<ValidatedJWTSVID> {
  const { header, claims, audience: tokenAudience } = parseJWT(token);
  const kid = header.kid ?? "";
  if (kid === "") throw new InvalidArgumentError("token header missing key id");
  if (claims.sub === undefined || claims.sub === "") throw new InvalidArgumentError("token missing subject claim");
  if (claims.exp === undefined) throw new InvalidArgumentError("token missing exp claim");
  let id: spiffeid.ID;
  try {
    id = spiffeid.fromString(claims.sub);
  } catch (cause) {
    throw new InvalidArgumentError(`token has an invalid subject claim: ${(cause as Error).message}`, { cause });
  }
  const jwk = store.findPublicKey(id.trustDomain.name, kid);
  await verifySignature(token, header.alg, jwk);

  // go-jose's Claims.Validate order: audience first, then nbf, exp, iat.
  if (audience.length > 0 && !audience.some((a) => tokenAudience.includes(a))) {
    throw new InvalidArgumentError(`expected audience in ${quoteList(audience)} (audience=${quoteList(tokenAudience)})`);
  }
  const t = now.getTime();
  if (claims.nbf !== undefined && t + leewayMs < claims.nbf * 1000) {
    throw new InvalidArgumentError("validation failed, token not valid yet (nbf)");
  }
  if (t - leewayMs > claims.exp * 1000) throw new InvalidArgumentError("token has expired");
  if (claims.iat !== undefined && t + leewayMs < claims.iat * 1000) {
    throw new InvalidArgumentError("validation failed, token issued in the future (iat)");
  }
  return { spiffeID: id, claims, audience: tokenAudience, expiresAt: new Date(claims.exp * 1000) };
}
