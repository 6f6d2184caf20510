/** The signing face of the CA: X.509-SVIDs for agents, workloads and the server itself. @module */
import type { Counter, Registry } from "../../core/metrics/registry.ts";
import type { Clock } from "../../core/ports/clock.ts";
import { parseCertificate } from "../../core/x509/mod.ts";
import type { CAManager } from "./ca_manager.ts";
import { NOT_BEFORE_CUSHION_MS } from "./x509_ca.ts";

export interface X509SVIDParams {
  spiffeID: string;
  publicKeySPKI: Uint8Array;
  /** Seconds; 0 or absent means the default TTL. */
  ttl?: number;
  dnsNames?: string[];
}

export interface IssuedX509SVID {
  /** Leaf first, then the CA and any upstream intermediates (DER). */
  chain: Uint8Array[];
  notAfter: Date;
  serialHex: string;
}

export class ServerCA {
  #manager: CAManager;
  #clock: Clock;
  #defaultTTL: number;
  #issued: Counter | undefined;

  /** `defaultX509SVIDTTL` in ms. */
  constructor(cfg: { manager: CAManager; clock: Clock; defaultX509SVIDTTL: number; metrics?: Registry }) {
    this.#manager = cfg.manager;
    this.#clock = cfg.clock;
    this.#defaultTTL = cfg.defaultX509SVIDTTL;
    this.#issued = cfg.metrics?.counter("wisp_server_x509_svids_issued_total", "X509-SVIDs signed by this server");
  }

  /** Signs a batch concurrently with the active CA; NotAfter is capped at the CA's own NotAfter (SPIRE). */
  async signX509SVIDs(params: X509SVIDParams[]): Promise<IssuedX509SVID[]> {
    const ca = this.#manager.currentX509CA();
    const now = this.#clock.now().getTime();
    const notBefore = new Date(now - NOT_BEFORE_CUSHION_MS);
    const items = params.map((p) => {
      const ttl = p.ttl && p.ttl > 0 ? p.ttl * 1000 : this.#defaultTTL;
      const notAfter = new Date(Math.min(now + ttl, ca.notAfter.getTime()));
      return { spiffeID: p.spiffeID, publicKeySPKI: p.publicKeySPKI, notBefore, notAfter, dnsNames: p.dnsNames ?? [] };
    });
    const ders = await ca.minter.mintBatch(items);
    this.#issued?.inc(undefined, ders.length);
    return ders.map((der, i) => ({
      chain: [der, ...ca.chain],
      notAfter: items[i]!.notAfter,
      serialHex: parseCertificate(der).serialHex,
    }));
  }

  async signX509SVID(p: X509SVIDParams): Promise<IssuedX509SVID> {
    return (await this.signX509SVIDs([p]))[0]!;
  }
}
