/**
 * Where the agent gets the bundle it authenticates the server with at first contact (SPIRE's trustbundlesources):
 * `trust_bundle_path`, `trust_bundle_url` (optionally over `trust_bundle_unix_socket`), in `trust_bundle_format`.
 * @module
 */
import { x509AuthoritiesFromSPIFFEBundle } from "../core/bundle/spiffe_bundle.ts";
import { FailedPreconditionError, formatError, InvalidArgumentError, UnavailableError } from "../core/errors.ts";
import type { Logger } from "../core/log/logger.ts";
import type { Clock } from "../core/ports/clock.ts";
import type { FS } from "../core/ports/fs.ts";
import type { HTTPGet } from "../core/ports/http_get.ts";
import { fromPEM, parseCertificate } from "../core/x509/mod.ts";

/** `trust_bundle_format`: PEM certificates, or a SPIFFE bundle document (JWKS). */
export type TrustBundleFormat = "pem" | "spiffe";

export interface TrustBundleSourceConfig {
  path?: string | undefined;
  url?: URL | undefined;
  /** Download `url` (http://) over this Unix socket, with SPIRE's spire-* / spiffe-* query parameters. */
  unixSocket?: string | undefined;
  format: TrustBundleFormat;
  trustDomain: string;
  serverAddress: string;
  serverPort: number;
  fs: FS;
  httpGet: HTTPGet;
  clock: Clock;
  logger: Logger;
}

/**
 * Loads the bootstrap bundle anew at each attestation attempt, so a bundle fixed at its URL is picked up by the
 * next retry, as SPIRE's agent does.
 */
export class TrustBundleSource {
  readonly #c: TrustBundleSourceConfig;
  #attempts = 0;
  #startTime: Date | undefined;

  constructor(c: TrustBundleSourceConfig) {
    this.#c = c;
  }

  /**
   * The bundle's X.509 authorities.
   * @throws {UnavailableError} when the URL cannot be downloaded or does not hold a usable bundle (retryable)
   * @throws {FailedPreconditionError} when the file cannot be read or parsed
   */
  async get(): Promise<Uint8Array[]> {
    const c = this.#c;
    this.#attempts++;
    this.#startTime ??= c.clock.now();
    if (c.url) {
      const url = new URL(c.url);
      if (c.unixSocket) {
        url.searchParams.set("spire-attest-mode", "bootstrap");
        url.searchParams.set("spire-connection-attempts", String(this.#attempts));
        url.searchParams.set("spire-attest-start-time", this.#startTime.toISOString().replace(/\.\d{3}Z$/, "Z"));
        url.searchParams.set("spire-server-address", c.serverAddress);
        url.searchParams.set("spire-server-port", String(c.serverPort));
        url.searchParams.set("spiffe-trust-domain", c.trustDomain);
      }
      c.logger.info(`Server attestation attempt ${this.#attempts}. Started ${this.#startTime.toISOString()}.`);
      const bytes = await this.#download(url.toString());
      try {
        return parseTrustBundle(bytes, c.format);
      } catch (cause) {
        throw new UnavailableError(`invalid trust bundle at ${c.url}`, { cause });
      }
    }
    if (c.path) {
      let bytes: Uint8Array;
      try {
        bytes = await c.fs.readFile(c.path);
      } catch (cause) {
        throw new FailedPreconditionError("could not parse trust bundle", { cause });
      }
      try {
        return parseTrustBundle(bytes, c.format);
      } catch (cause) {
        throw new FailedPreconditionError(`could not parse trust bundle "${c.path}"`, { cause });
      }
    }
    throw new TypeError("TrustBundleSource needs a path or a URL");
  }

  async #download(url: string): Promise<Uint8Array> {
    const c = this.#c;
    let res;
    try {
      res = await c.httpGet(url, { unixSocket: c.unixSocket });
    } catch (cause) {
      // The server's TLS verdict ("unable to verify the first certificate") is the useful part of the cause.
      throw new UnavailableError(`unable to fetch trust bundle URL ${c.url}: ${formatError(cause)}`, { cause });
    }
    if (res.status !== 200) throw new UnavailableError(`error downloading trust bundle: ${res.statusText}`);
    return res.body;
  }
}

/**
 * Parses a bundle in `format` into its X.509 authorities (SPIRE parseTrustBundle).
 * @throws {InvalidArgumentError} on a malformed bundle, or one without certificates
 */
export function parseTrustBundle(bytes: Uint8Array, format: TrustBundleFormat): Uint8Array[] {
  const text = new TextDecoder().decode(bytes);
  let roots: Uint8Array[];
  if (format === "spiffe") {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
      roots = x509AuthoritiesFromSPIFFEBundle(doc);
    } catch (cause) {
      throw new InvalidArgumentError(`unable to parse SPIFFE trust bundle: ${formatError(cause)}`, { cause });
    }
  } else {
    roots = text.includes("-----BEGIN") ? fromPEM(text, "CERTIFICATE") : [];
  }
  if (roots.length === 0) throw new InvalidArgumentError("no certificates found in trust bundle");
  for (const r of roots) parseCertificate(r);
  return roots;
}
