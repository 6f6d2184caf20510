/**
 * Unverified parsing of a JWT-SVID in JWS Compact form (SPIFFE JWT-SVID §2–3): header, claims, and the checks
 * that need no key. Signature verification lives in validate.ts and goes through `jose`.
 * @module
 */
import { base64url } from "jose";
import { InvalidArgumentError } from "../errors.ts";

/** The algorithms the JWT-SVID spec allows, in SPIRE's order (pkg/common/jwtsvid/signature.go). */
export const ALLOWED_ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] as const;

export interface JWTHeader {
  alg: string;
  kid?: string;
  typ?: string;
  [key: string]: unknown;
}

/** Claims as they appear in the token; `aud` may be a single string (RFC 7519 §4.1.3). */
export interface JWTClaims {
  sub?: string;
  aud?: string | string[];
  exp?: number;
  iat?: number;
  nbf?: number;
  iss?: string;
  [key: string]: unknown;
}

export interface ParsedJWT {
  header: JWTHeader;
  claims: JWTClaims;
  /** `aud` normalised to a list. */
  audience: string[];
}

const parseError = (msg: string) => new InvalidArgumentError(`unable to parse JWT token: ${msg}`);

function decodeJSON(segment: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(base64url.decode(segment)));
  } catch (cause) {
    throw new InvalidArgumentError(`unable to parse JWT token: malformed ${what}`, { cause });
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw parseError(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** go-jose's quoting of a []string with %q: `["a" "b"]`. */
export function quoteList(xs: readonly string[]): string {
  return `[${xs.map((x) => JSON.stringify(x)).join(" ")}]`;
}

/**
 * Splits and decodes a token without verifying it, rejecting what SPIRE's `jwt.ParseSigned(token, allowed)` and
 * the header/claim shape checks reject.
 * @throws {InvalidArgumentError} "unable to parse JWT token: …" and friends
 */
export function parseJWT(token: string): ParsedJWT {
  const parts = token.split(".");
  if (parts.length !== 3) throw parseError("compact JWS format must have three parts");
  const header = decodeJSON(parts[0]!, "header");
  const alg = header.alg;
  if (typeof alg !== "string" || !(ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) {
    throw parseError(`unexpected signature algorithm ${JSON.stringify(String(alg ?? ""))}; expected ${quoteList(ALLOWED_ALGORITHMS)}`);
  }
  if (header.kid !== undefined && typeof header.kid !== "string") throw parseError('"kid" header must be a string');
  // go-spiffe: typ, when present, must be JWT or JOSE (JWT-SVID §2.3).
  if (header.typ !== undefined && header.typ !== "JWT" && header.typ !== "JOSE") {
    throw new InvalidArgumentError("token header type not equal to either JWT or JOSE");
  }
  const claims = decodeJSON(parts[1]!, "payload") as JWTClaims;
  let audience: string[];
  if (claims.aud === undefined) audience = [];
  else if (typeof claims.aud === "string") audience = [claims.aud];
  else if (Array.isArray(claims.aud) && claims.aud.every((a) => typeof a === "string")) audience = claims.aud;
  else throw parseError('"aud" claim must be a string or a list of strings');
  for (const k of ["exp", "iat", "nbf"] as const) {
    if (claims[k] !== undefined && (typeof claims[k] !== "number" || !Number.isFinite(claims[k]))) {
      throw parseError(`"${k}" claim must be a number`);
    }
  }
  if (claims.sub !== undefined && typeof claims.sub !== "string") throw parseError('"sub" claim must be a string');
  return { header: header as JWTHeader, claims, audience };
}
