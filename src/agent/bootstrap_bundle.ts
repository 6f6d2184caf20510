/** The bootstrap trust bundle: read from trust_bundle_path or downloaded from trust_bundle_url, PEM or SPIFFE. @module */
import { x509AuthoritiesFromSPIFFEBundle } from "../core/bundle/spiffe_bundle.ts";
import { InvalidArgumentError, UnavailableError } from "../core/errors.ts";
import type { FS } from "../core/ports/fs.ts";
import { fromPEM } from "../core/x509/mod.ts";

/** Where the bundle comes from and how it is written (the agent config's bootstrap keys). */
export interface BootstrapBundleSource {
  trustBundlePath?: string | undefined;
  trustBundleURL?: URL | undefined;
  /** "pem": CERTIFICATE blocks; "spiffe": a SPIFFE bundle (JWKS with x509-svid keys). */
  trustBundleFormat: "pem" | "spiffe";
}

/**
 * Returns the CA certificates (DER) the agent trusts at first contact, or undefined when bootstrapping insecurely.
 * A URL is fetched once at start, as SPIRE's trustbundlesources does; its TLS is verified against the system roots.
 *
 * @throws {InvalidArgumentError} when the bundle cannot be parsed or holds no certificate
 * @throws {UnavailableError} when the URL cannot be fetched
 */
export async function loadBootstrapBundle(
  src: BootstrapBundleSource,
  deps: { fs: FS; fetch?: (url: URL) => Promise<Response> },
): Promise<Uint8Array[] | undefined> {
  let text: string;
  let from: string;
  if (src.trustBundlePath !== undefined) {
    from = `"${src.trustBundlePath}"`;
    text = new TextDecoder().decode(await deps.fs.readFile(src.trustBundlePath));
  } else if (src.trustBundleURL !== undefined) {
    from = `"${src.trustBundleURL.href}"`;
    const get = deps.fetch ?? ((u: URL) => fetch(u));
    let res: Response;
    try {
      res = await get(src.trustBundleURL);
    } catch (cause) {
      throw new UnavailableError(`unable to fetch trust bundle URL ${src.trustBundleURL.href}`, { cause });
    }
    // SPIRE's text (pkg/agent/trustbundlesources).
    if (res.status !== 200) throw new UnavailableError(`error downloading trust bundle: ${res.status} ${res.statusText}`.trimEnd());
    text = await res.text();
  } else {
    return undefined;
  }
  let roots: Uint8Array[];
  try {
    roots = src.trustBundleFormat === "spiffe" ? x509AuthoritiesFromSPIFFEBundle(JSON.parse(text)) : fromPEM(text, "CERTIFICATE");
  } catch (cause) {
    // SPIRE's texts (pkg/agent/trustbundlesources/bundle.go), with where the bundle came from.
    const what = src.trustBundleFormat === "spiffe" ? "unable to parse SPIFFE trust bundle" : "could not parse trust bundle";
    throw new InvalidArgumentError(`${what} ${from}`, { cause });
  }
  if (roots.length === 0) throw new InvalidArgumentError(`no certificates found in trust bundle ${from}`);
  return roots;
}
