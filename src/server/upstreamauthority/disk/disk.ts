/**
 * UpstreamAuthority "disk": an upstream CA certificate and PKCS#8 P-256 key on disk sign this server's intermediate
 * CA (SPIRE upstreamauthority/disk). For labs and air-gapped setups; production uses aws_pca.
 * @module
 */
import { importPKCS8, importSPKI, rawToDER, signRaw, verifyRaw } from "../../../core/crypto/ec_p256.ts";
import type { Signer } from "../../../core/crypto/signer.ts";
import { equalBytes } from "../../../core/encoding.ts";
import { InvalidArgumentError } from "../../../core/errors.ts";
import * as F from "../../../core/log/fields.ts";
import type { Logger } from "../../../core/log/logger.ts";
import type { Clock } from "../../../core/ports/clock.ts";
import type { FS } from "../../../core/ports/fs.ts";
import { fromPEM, parseAndVerifyCSR, parseCertificate, signIntermediateCA } from "../../../core/x509/mod.ts";
import type { MintedX509CA, UpstreamAuthority } from "../upstream_authority.ts";

export interface DiskUpstreamConfig {
  /** PEM: the upstream CA certificate, optionally followed by its intermediates. */
  certFilePath: string;
  /** PEM "PRIVATE KEY" (PKCS#8) of the upstream CA's P-256 key. */
  keyFilePath: string;
  /** PEM roots for the trust bundle; default: the upstream certificate itself, which must then be self-signed. */
  bundleFilePath?: string | undefined;
  fs: FS;
  clock: Clock;
  logger: Logger;
}

/** SPIRE backdates NotBefore so slightly slow clocks accept a new CA. */
const NOT_BEFORE_CUSHION_MS = 10_000;

export class DiskUpstreamAuthority implements UpstreamAuthority {
  readonly name = "disk";
  #certDER: Uint8Array;
  #intermediates: Uint8Array[];
  #roots: Uint8Array[];
  #signer: Signer;
  #notAfter: Date;
  #clock: Clock;
  #log: Logger;

  private constructor(p: { certs: Uint8Array[]; roots: Uint8Array[]; signer: Signer; clock: Clock; logger: Logger }) {
    this.#certDER = p.certs[0]!;
    this.#intermediates = p.certs.slice(1).filter((c) => !p.roots.some((r) => equalBytes(r, c)));
    this.#roots = p.roots;
    this.#signer = p.signer;
    this.#notAfter = parseCertificate(this.#certDER).notAfter;
    this.#clock = p.clock;
    this.#log = p.logger.with({ subsystem_name: "upstream_authority", upstream_authority: "disk" });
  }

  /**
   * Reads and checks the certificate, key and bundle.
   * @throws {InvalidArgumentError} for unreadable files, a non-CA certificate, a key that does not match, or a
   *   certificate that is not self-signed while no bundle is given
   */
  static async load(cfg: DiskUpstreamConfig): Promise<DiskUpstreamAuthority> {
    const read = async (what: string, path: string, label: string): Promise<Uint8Array[]> => {
      try {
        return fromPEM(new TextDecoder().decode(await cfg.fs.readFile(path)), label);
      } catch (cause) {
        throw new InvalidArgumentError(`unable to load upstream CA ${what} "${path}"`, { cause });
      }
    };
    const certs = await read("certificate", cfg.certFilePath, "CERTIFICATE");
    const info = parseCertificate(certs[0]!);
    if (!info.isCA) throw new InvalidArgumentError(`upstream CA certificate "${cfg.certFilePath}" is not a CA`);
    const [pkcs8] = await read("key", cfg.keyFilePath, "PRIVATE KEY");
    let privateKey: CryptoKey;
    try {
      privateKey = await importPKCS8(pkcs8!, false);
    } catch (cause) {
      throw new InvalidArgumentError(`unable to load upstream CA key "${cfg.keyFilePath}": not a PKCS#8 P-256 key`, { cause });
    }
    const probe = new TextEncoder().encode("wisp disk upstream key check");
    const matches = await verifyRaw(await importSPKI(info.spki), await signRaw(privateKey, probe), probe).catch(() => false);
    if (!matches) {
      throw new InvalidArgumentError(`upstream CA key "${cfg.keyFilePath}" does not match certificate "${cfg.certFilePath}"`);
    }
    let roots: Uint8Array[];
    if (cfg.bundleFilePath) {
      roots = await read("bundle", cfg.bundleFilePath, "CERTIFICATE");
    } else if (equalBytes(info.subjectDER, info.issuerDER)) {
      roots = [certs[0]!];
    } else {
      throw new InvalidArgumentError(`upstream CA certificate "${cfg.certFilePath}" is not self-signed: bundle_file_path must name its roots`);
    }
    const signer: Signer = { publicKeySPKI: info.spki, sign: async (data) => rawToDER(await signRaw(privateKey, data)) };
    return new DiskUpstreamAuthority({ certs, roots, signer, clock: cfg.clock, logger: cfg.logger });
  }

  async mintX509CA(csrDER: Uint8Array, ttlSeconds: number, _signal?: AbortSignal): Promise<MintedX509CA> {
    const csr = await parseAndVerifyCSR(csrDER);
    const td = csr.uris[0]?.match(/^spiffe:\/\/([^/]+)$/)?.[1];
    if (!td) throw new InvalidArgumentError("CA CSR must carry exactly the trust domain URI SAN");
    const now = this.#clock.now().getTime();
    let notAfter = new Date(now + ttlSeconds * 1000);
    if (notAfter > this.#notAfter) {
      this.#log.warn("Requested CA lifetime exceeds the upstream CA lifetime; capping it", {
        requested_not_after: notAfter.toISOString(),
        [F.EXPIRATION]: this.#notAfter.toISOString(),
      });
      notAfter = this.#notAfter;
    }
    const der = await signIntermediateCA({
      issuerCertDER: this.#certDER,
      issuerSigner: this.#signer,
      publicKeySPKI: csr.publicKeySPKI,
      trustDomain: td,
      notBefore: new Date(now - NOT_BEFORE_CUSHION_MS),
      notAfter,
      pathLen: 0,
      subjectDER: csr.subjectDER,
    });
    // The upstream certificate itself goes into SVID chains unless it is one of the bundle roots.
    const upstream = this.#roots.some((r) => equalBytes(r, this.#certDER)) ? [] : [this.#certDER];
    return { x509CAChain: [der, ...upstream, ...this.#intermediates], upstreamX509Roots: [...this.#roots] };
  }
}
