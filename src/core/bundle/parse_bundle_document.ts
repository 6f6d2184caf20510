/**
 * Reads a SPIFFE bundle document fetched from a foreign bundle endpoint or given by an operator, as SPIRE's
 * bundleutil.Decode does (strict `use`), plus the checks a relying party needs before trusting it: every X.509
 * authority parses, is a CA, is within its validity and carries a valid self-signature when self-issued.
 * https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE_Trust_Domain_and_Bundle.md
 * @module
 */
import { fromBase64 } from "../encoding.ts";
import { InvalidArgumentError } from "../errors.ts";
import { parseCertificate } from "../x509/certificate_info.ts";
import { bytesEqual } from "../x509/der.ts";
import { checkSignedBy } from "../x509/signature.ts";
import type { BundleData } from "./spiffe_bundle.ts";

/** Larger documents are refused before parsing: a bundle of a few hundred authorities is well under this. */
export const MAX_BUNDLE_DOCUMENT_BYTES = 1 << 20;

function fail(message: string, cause?: unknown): InvalidArgumentError {
  return new InvalidArgumentError(message, cause === undefined ? undefined : { cause });
}

async function spkiFromJWK(jwk: Record<string, unknown>, i: number): Promise<Uint8Array> {
  if (jwk["kty"] !== "EC" || jwk["crv"] !== "P-256") throw fail(`unsupported JWT key type for key entry ${i}: only EC P-256 keys are supported`);
  try {
    const key = await crypto.subtle.importKey(
      "jwk",
      { kty: "EC", crv: "P-256", x: jwk["x"] as string, y: jwk["y"] as string },
      { name: "ECDSA", namedCurve: "P-256" },
      true,
      ["verify"],
    );
    return new Uint8Array(await crypto.subtle.exportKey("spki", key));
  } catch (err) {
    throw fail(`invalid JWT key for key entry ${i}`, err);
  }
}

/**
 * Parses the document for `trustDomain`. `now` checks the authorities' validity.
 * @throws {InvalidArgumentError} naming what is wrong
 */
export async function parseBundleDocument(body: Uint8Array | string, trustDomain: string, now: Date): Promise<BundleData> {
  const size = typeof body === "string" ? new TextEncoder().encode(body).length : body.length;
  if (size > MAX_BUNDLE_DOCUMENT_BYTES) throw fail(`bundle document is too large: ${size} bytes (limit ${MAX_BUNDLE_DOCUMENT_BYTES})`);
  let doc: unknown;
  try {
    doc = JSON.parse(typeof body === "string" ? body : new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch (err) {
    throw fail(`unable to decode bundle: ${(err as Error).message}`, err);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw fail("unable to decode bundle: not a JSON object");
  const o = doc as Record<string, unknown>;
  if (!Array.isArray(o["keys"])) throw fail("no authorities found");
  const out: BundleData = { trustDomain, x509Authorities: [], jwtKeys: [], sequence: 0, refreshHint: 0 };
  const hint = o["spiffe_refresh_hint"];
  if (hint !== undefined) {
    if (typeof hint !== "number" || !Number.isSafeInteger(hint) || hint < 0) throw fail("invalid spiffe_refresh_hint: must be a non-negative integer");
    out.refreshHint = hint;
  }
  const seq = o["spiffe_sequence"];
  if (seq !== undefined) {
    if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) throw fail("invalid spiffe_sequence: must be a non-negative integer");
    out.sequence = seq;
  }
  for (const [i, k] of (o["keys"] as unknown[]).entries()) {
    if (typeof k !== "object" || k === null) throw fail(`invalid key entry ${i}`);
    const jwk = k as Record<string, unknown>;
    const use = jwk["use"];
    if (use === undefined || use === "") throw fail(`missing use for key entry ${i}`);
    if (use === "x509-svid") {
      const x5c = jwk["x5c"];
      if (!Array.isArray(x5c) || x5c.length !== 1 || typeof x5c[0] !== "string") {
        throw fail(`expected a single certificate in x509-svid entry ${i}; got ${Array.isArray(x5c) ? x5c.length : 0}`);
      }
      out.x509Authorities.push(await checkAuthority(fromBase64(x5c[0]), i, now));
    } else if (use === "jwt-svid") {
      const kid = jwk["kid"];
      if (typeof kid !== "string" || kid === "") throw fail(`missing key ID in key entry ${i}`);
      out.jwtKeys.push({ kid, publicKey: await spkiFromJWK(jwk, i), notAfter: 0 });
    } else {
      throw fail(`unrecognized use "${String(use)}" for key entry ${i}`);
    }
  }
  if (out.x509Authorities.length === 0 && out.jwtKeys.length === 0 && (o["keys"] as unknown[]).length > 0) throw fail("no authorities found");
  return out;
}

async function checkAuthority(der: Uint8Array, i: number, now: Date): Promise<Uint8Array> {
  let c;
  try {
    c = parseCertificate(der);
  } catch (err) {
    throw fail(`unable to parse certificate in key entry ${i}: ${(err as Error).message}`, err);
  }
  if (!c.isCA) throw fail(`certificate in key entry ${i} is not a CA`);
  if (c.notAfter.getTime() < now.getTime()) throw fail(`certificate in key entry ${i} has expired (not after ${c.notAfter.toISOString()})`);
  if (c.notBefore.getTime() > now.getTime()) throw fail(`certificate in key entry ${i} is not yet valid (not before ${c.notBefore.toISOString()})`);
  if (bytesEqual(c.issuerDER, c.subjectDER)) {
    const err = await checkSignedBy(c, c);
    if (err) throw fail(`certificate in key entry ${i} is not validly signed: ${err}`);
  }
  return der;
}
