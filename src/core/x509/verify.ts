/**
 * X509-SVID validation as the SPIFFE standard and go-spiffe's x509svid.Verify do it: leaf profile checks,
 * then a verified path through the presented intermediates to one of the trusted roots.
 * https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md#5-validation
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";
import { fromString } from "../spiffeid/id.ts";
import { type CertificateInfo, parseCertificate } from "./certificate_info.ts";
import { bytesEqual } from "./der.ts";
import { KU_CRL_SIGN, KU_KEY_CERT_SIGN } from "./names.ts";
import { checkSignedBy } from "./signature.ts";

/** Longest path tried, leaf included; SPIFFE chains are 2–4 certificates. */
const MAX_DEPTH = 8;

export interface VerifiedSVID {
  spiffeID: string;
  /** The verified path, leaf first, ending with the trusted root. */
  chain: Uint8Array[];
}

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Go's CertificateInvalidError texts, so messages match go-spiffe's. */
function validityError(c: CertificateInfo, now: Date): string | undefined {
  const t = now.getTime();
  if (t < c.notBefore.getTime()) {
    return `x509: certificate has expired or is not yet valid: current time ${rfc3339(now)} is before ${rfc3339(c.notBefore)}`;
  }
  if (t > c.notAfter.getTime()) {
    return `x509: certificate has expired or is not yet valid: current time ${rfc3339(now)} is after ${rfc3339(c.notAfter)}`;
  }
  return c.unhandledCriticalExtensions.length > 0 ? "x509: unhandled critical extension" : undefined;
}

/** Checks a would-be parent of `chain`'s last certificate, with `below` intermediates under it. */
function parentError(p: CertificateInfo, below: number, isRoot: boolean, now: Date): string | undefined {
  const v = validityError(p, now);
  if (v) return v;
  if (!isRoot && (!p.basicConstraintsValid || !p.isCA)) {
    return "x509: certificate is not authorized to sign other certificates";
  }
  if (!isRoot && p.keyUsage !== undefined && !(p.keyUsage & KU_KEY_CERT_SIGN)) {
    return "x509: certificate is not authorized to sign other certificates";
  }
  if (p.pathLen !== undefined && below > p.pathLen) {
    return "x509: too many intermediates for path length constraint";
  }
  return undefined;
}

function mayHaveIssued(child: CertificateInfo, parent: CertificateInfo): boolean {
  if (!bytesEqual(child.issuerDER, parent.subjectDER)) return false;
  return !(child.aki && parent.ski) || bytesEqual(child.aki, parent.ski);
}

/**
 * Finds a verified path from `start` to a root. Roots are tried before intermediates, and the first
 * specific failure is kept so the caller can report something better than "unknown authority".
 * `startIsCA` counts `start` itself as an intermediate for pathLen (it will sign leaves).
 */
async function buildPath(
  start: CertificateInfo,
  intermediates: CertificateInfo[],
  roots: CertificateInfo[],
  now: Date,
  startIsCA = false,
): Promise<CertificateInfo[]> {
  if (roots.some((r) => bytesEqual(r.der, start.der))) return [start];
  let firstError: string | undefined;
  const extend = async (chain: CertificateInfo[]): Promise<CertificateInfo[] | undefined> => {
    const cur = chain[chain.length - 1]!;
    for (const [pool, isRoot] of [[roots, true], [intermediates, false]] as const) {
      for (const cand of pool) {
        if (chain.includes(cand) || !mayHaveIssued(cur, cand)) continue;
        const below = chain.length - 1 + (startIsCA ? 1 : 0);
        const err = parentError(cand, below, isRoot, now) ?? await checkSignedBy(cur, cand);
        if (err) {
          firstError ??= err;
          continue;
        }
        if (isRoot) return [...chain, cand];
        if (chain.length + 1 >= MAX_DEPTH) continue;
        const found = await extend([...chain, cand]);
        if (found) return found;
      }
    }
    return undefined;
  };
  const path = await extend([start]);
  if (!path) throw new Error(firstError ?? "x509: certificate signed by unknown authority");
  return path;
}

function parseAll(ders: readonly Uint8Array[], what: string): CertificateInfo[] {
  return ders.map((d) => {
    try {
      return parseCertificate(d);
    } catch (err) {
      throw new InvalidArgumentError(`x509svid: could not parse ${what}`, { cause: err });
    }
  });
}

function fail(message: string, cause?: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`x509svid: ${message}`, cause === undefined ? undefined : { cause });
}

/**
 * Validates an X509-SVID chain (leaf first, then intermediates) against trusted roots at `now`.
 * @throws {InvalidArgumentError} "x509svid: ..." describing the first failed check
 */
export async function verifyX509SVID(
  chainDER: readonly Uint8Array[],
  roots: readonly Uint8Array[],
  now: Date,
): Promise<VerifiedSVID> {
  if (chainDER.length === 0) throw fail("empty certificates chain");
  const [leaf, ...intermediates] = parseAll(chainDER, "certificate chain");
  if (leaf!.uris.length === 0) throw fail("could not get leaf SPIFFE ID: certificate contains no URI SAN");
  if (leaf!.uris.length > 1) throw fail("could not get leaf SPIFFE ID: certificate contains more than one URI SAN");
  let id;
  try {
    id = fromString(leaf!.uris[0]!);
  } catch (err) {
    throw fail(`could not get leaf SPIFFE ID: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  if (id.isTrustDomainID()) throw fail(`leaf certificate SPIFFE ID "${id.toString()}" has no path`);
  if (leaf!.isCA) throw fail("leaf certificate with CA flag set to true");
  if ((leaf!.keyUsage ?? 0) & KU_KEY_CERT_SIGN) throw fail("leaf certificate with KeyCertSign key usage");
  if ((leaf!.keyUsage ?? 0) & KU_CRL_SIGN) throw fail("leaf certificate with KeyCrlSign key usage");
  const rootInfos = parseAll(roots, "root certificate");
  const leafErr = validityError(leaf!, now);
  if (leafErr) throw fail(`could not verify leaf certificate: ${leafErr}`);
  try {
    const path = await buildPath(leaf!, intermediates, rootInfos, now);
    return { spiffeID: id.toString(), chain: path.map((c) => c.der) };
  } catch (err) {
    throw fail(`could not verify leaf certificate: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Verifies that `chainDER[0]` is a CA certificate that chains through `chainDER[1..]` to one of `roots`
 * (for checking an upstream-minted intermediate before use).
 * @throws {InvalidArgumentError} "could not verify CA chain: ..." describing the failure
 */
export async function verifyCAChain(
  chainDER: readonly Uint8Array[],
  roots: readonly Uint8Array[],
  now: Date,
): Promise<Uint8Array[]> {
  if (chainDER.length === 0) throw new InvalidArgumentError("could not verify CA chain: empty certificates chain");
  const [ca, ...intermediates] = parseAll(chainDER, "certificate chain");
  if (!ca!.basicConstraintsValid || !ca!.isCA) {
    throw new InvalidArgumentError("could not verify CA chain: certificate is not a CA");
  }
  const err = validityError(ca!, now);
  if (err) throw new InvalidArgumentError(`could not verify CA chain: ${err}`);
  try {
    const path = await buildPath(ca!, intermediates, parseAll(roots, "root certificate"), now, true);
    return path.map((c) => c.der);
  } catch (e) {
    throw new InvalidArgumentError(`could not verify CA chain: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * Go's `x509.Certificate.Verify` with `ExtKeyUsageAny`, for non-SPIFFE certificates (x509pop node certificates):
 * the leaf's validity, then a verified path through `intermediates` to one of `roots`.
 * @returns the verified path, leaf first, ending with the root
 * @throws {InvalidArgumentError} whose message is Go's text ("x509: certificate signed by unknown authority", …)
 */
export async function verifyCertificateChain(
  leafDER: Uint8Array,
  intermediates: readonly Uint8Array[],
  roots: readonly Uint8Array[],
  now: Date,
): Promise<Uint8Array[]> {
  const [leaf] = parseAll([leafDER], "certificate chain");
  const err = validityError(leaf!, now);
  if (err) throw new InvalidArgumentError(err);
  try {
    const path = await buildPath(leaf!, parseAll(intermediates, "certificate chain"), parseAll(roots, "root certificate"), now);
    return path.map((c) => c.der);
  } catch (e) {
    throw new InvalidArgumentError(e instanceof Error ? e.message : String(e));
  }
}
