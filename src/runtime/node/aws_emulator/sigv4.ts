/** Server-side AWS Signature Version 4 verification of a whole request (header-based signing only). @module */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { AwsError, type WireProtocol } from "./aws_error.ts";

/** A key pair the emulator knows; session credentials also carry the token that must accompany them. */
export interface KnownCredentials {
  secretAccessKey: string;
  sessionToken?: string;
  /** Epoch ms after which the credentials are refused (session credentials only). */
  expiresAt?: number;
}

/** The parts of an HTTP request that SigV4 covers. */
export interface SignedRequest {
  method: string;
  /** Raw request path as received, e.g. "/". */
  path: string;
  /** Raw query string without the leading "?". */
  query: string;
  headers: Headers;
  body: Uint8Array;
}

export interface VerifyOptions {
  /** Signing name the credential scope must name ("acm-pca", "kms", "sts"). */
  service: string;
  /** Region the scope must name; undefined accepts any (IAM is global, EC2 answers per signing region). */
  region: string | undefined;
  now: Date;
  protocol: WireProtocol;
  lookup: (accessKeyId: string) => KnownCredentials | undefined;
}

const MAX_SKEW_MS = 15 * 60 * 1000;
const SIG_MISMATCH =
  "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const BAD_TOKEN = "The security token included in the request is invalid.";

type Failure = "missing" | "incomplete" | "unknownKey" | "mismatch" | "expiredToken" | "expiredRequest";

/** Wire codes per protocol: JSON services use the *Exception names, STS its query-era names with 403. */
const CODES: Record<WireProtocol, Record<Failure, [string, number]>> = {
  json: {
    missing: ["MissingAuthenticationTokenException", 400],
    incomplete: ["IncompleteSignatureException", 400],
    unknownKey: ["UnrecognizedClientException", 400],
    mismatch: ["InvalidSignatureException", 400],
    expiredToken: ["ExpiredTokenException", 400],
    expiredRequest: ["RequestExpired", 400],
  },
  query: {
    missing: ["MissingAuthenticationToken", 403],
    incomplete: ["IncompleteSignature", 400],
    unknownKey: ["InvalidClientTokenId", 403],
    mismatch: ["SignatureDoesNotMatch", 403],
    expiredToken: ["ExpiredToken", 403],
    expiredRequest: ["RequestExpired", 400],
  },
};

function fail(protocol: WireProtocol, kind: Failure, message: string): AwsError {
  const [code, status] = CODES[protocol][kind];
  return new AwsError(code, message, status);
}

function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key: Uint8Array | string, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/** RFC 3986 unreserved-only escaping, as SigV4 requires. */
function uriEscape(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

function canonicalQuery(query: string): string {
  if (!query) return "";
  const pairs = query.split("&").filter(Boolean).map((p) => {
    const i = p.indexOf("=");
    const k = decodeURIComponent((i < 0 ? p : p.slice(0, i)).replace(/\+/g, " "));
    const v = i < 0 ? "" : decodeURIComponent(p.slice(i + 1).replace(/\+/g, " "));
    return [uriEscape(k), uriEscape(v)] as const;
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

/** Parses "YYYYMMDDTHHMMSSZ". */
function parseAmzDate(s: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function amzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/**
 * Verifies the Authorization header of `req` and returns the access key ID it was signed with.
 * @throws {AwsError} with the code the real service would answer for each kind of failure
 */
export function verifySigV4(req: SignedRequest, opts: VerifyOptions): string {
  const p = opts.protocol;
  const auth = req.headers.get("authorization");
  if (!auth) throw fail(p, "missing", "Missing Authentication Token");
  const m = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/.exec(
    auth.trim(),
  );
  if (!m) {
    throw fail(p, "incomplete", `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=${auth.split(" ")[0]}`);
  }
  const [, credential, signedHeadersText, signature] = m as unknown as [string, string, string, string];
  const scopeParts = credential.split("/");
  if (scopeParts.length !== 5 || scopeParts[4] !== "aws4_request") {
    throw fail(p, "incomplete", `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${credential}'`);
  }
  const [accessKeyId, scopeDate, scopeRegion, scopeService] = scopeParts as [string, string, string, string];
  const dateHeader = req.headers.get("x-amz-date");
  const signedAt = dateHeader ? parseAmzDate(dateHeader) : undefined;
  if (!dateHeader || !signedAt) throw fail(p, "incomplete", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header");
  if (scopeService !== opts.service) {
    throw fail(p, "mismatch", `Credential should be scoped to correct service: '${opts.service}'. `);
  }
  if (opts.region !== undefined && scopeRegion !== opts.region) {
    throw fail(p, "mismatch", `Credential should be scoped to a valid region, not '${scopeRegion}'. `);
  }
  if (scopeDate !== dateHeader.slice(0, 8)) {
    throw fail(
      p,
      "mismatch",
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${
        dateHeader.slice(0, 8)
      }', from '${dateHeader}'.`,
    );
  }
  const skew = signedAt.getTime() - opts.now.getTime();
  if (skew < -MAX_SKEW_MS) {
    throw fail(
      p,
      "expiredRequest",
      `Signature expired: ${dateHeader} is now earlier than ${amzDate(new Date(opts.now.getTime() - MAX_SKEW_MS))} (${amzDate(opts.now)} - 15 min.)`,
    );
  }
  if (skew > MAX_SKEW_MS) {
    throw fail(
      p,
      "expiredRequest",
      `Signature not yet current: ${dateHeader} is still later than ${amzDate(new Date(opts.now.getTime() + MAX_SKEW_MS))} (${amzDate(opts.now)} + 15 min.)`,
    );
  }
  const known = opts.lookup(accessKeyId);
  if (!known) throw fail(p, "unknownKey", BAD_TOKEN);
  const token = req.headers.get("x-amz-security-token") ?? undefined;
  if (known.sessionToken !== undefined && token !== known.sessionToken) throw fail(p, "unknownKey", BAD_TOKEN);
  if (known.sessionToken === undefined && token !== undefined) throw fail(p, "unknownKey", BAD_TOKEN);
  if (known.expiresAt !== undefined && known.expiresAt <= opts.now.getTime()) {
    throw fail(p, "expiredToken", "The security token included in the request is expired");
  }

  const signedHeaders = signedHeadersText.split(";");
  if (!signedHeaders.includes("host")) throw fail(p, "mismatch", "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  const canonicalHeaders = signedHeaders
    .map((h) => `${h}:${(req.headers.get(h) ?? "").trim().replace(/\s+/g, " ")}\n`)
    .join("");
  const canonicalPath = req.path.split("/").map(uriEscape).join("/") || "/";
  const canonicalRequest = [
    req.method.toUpperCase(),
    canonicalPath,
    canonicalQuery(req.query),
    canonicalHeaders,
    signedHeadersText,
    sha256Hex(req.body),
  ].join("\n");
  const scope = `${scopeDate}/${scopeRegion}/${scopeService}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", dateHeader, scope, sha256Hex(canonicalRequest)].join("\n");
  let key = hmac(`AWS4${known.secretAccessKey}`, scopeDate);
  for (const part of [scopeRegion, scopeService, "aws4_request"]) key = hmac(key, part);
  const expected = hmac(key, stringToSign);
  if (!timingSafeEqual(expected, Buffer.from(signature, "hex"))) throw fail(p, "mismatch", SIG_MISMATCH);
  return accessKeyId;
}
