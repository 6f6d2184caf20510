/**
 * Keeps the bundles of federated trust domains fresh, as SPIRE's pkg/server/bundle/client: one loop per relationship
 * (config-file ones override datastore ones for the same trust domain, relationships re-read every 10 s), polling at
 * a quarter of the refresh hint. A fetch that fails or returns a bundle that does not pass the checks keeps the last
 * good bundle, is retried with backoff, and shows in `health()` and the metrics.
 * @module
 */
import { parseBundleDocument } from "../../core/bundle/parse_bundle_document.ts";
import { MAX_BUNDLE_DOCUMENT_BYTES } from "../../core/bundle/parse_bundle_document.ts";
import { formatError, NotFoundError, UnavailableError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Registry } from "../../core/metrics/registry.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { HTTPGet } from "../../core/ports/http_get.ts";
import type { ServerConnector } from "../../core/ports/server_connector.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { parseCertificate } from "../../core/x509/certificate_info.ts";
import type { Bundle, DataStore, FederationRelationship } from "../datastore/datastore.ts";

/** SPIRE's defaults (bundleutil/refreshhint.go): 5 min without a hint, never under 1 min unless the hint says so. */
const DEFAULT_HINT_S = 300;
const RELOAD_MS = 10_000;
const FIRST_RETRY_MS = 1_000;

export interface FederatedBundleStatus {
  trustDomain: string;
  /** ISO time of the last successful fetch. */
  lastSuccess?: string;
  /** The last fetch's error; absent when it succeeded. */
  lastError?: string;
  consecutiveFailures: number;
}

export interface BundleRefresherDeps {
  ds: DataStore;
  clock: Clock;
  logger: Logger;
  /** Relationships from the config file. */
  configured: readonly FederationRelationship[];
  connector: ServerConnector;
  httpGet: HTTPGet;
  metrics?: Registry | undefined;
  /** Called after a foreign bundle changed in the datastore, so agents get it pushed. */
  onChange?: () => void;
}

interface Updater {
  rel: FederationRelationship;
  stop: AbortController;
  wake: () => void;
  status: FederatedBundleStatus;
}

/** Seconds until the next poll: hint/4 (SPIRE), the hint from the bundle or 1/10 of its shortest CA lifetime. */
export function pollIntervalMs(b: Bundle | undefined): number {
  if (!b) return 60_000;
  let hint = b.refreshHint > 0 ? b.refreshHint : 0;
  if (hint === 0) {
    let shortest = Infinity;
    for (const der of b.x509Authorities) {
      try {
        const c = parseCertificate(der);
        shortest = Math.min(shortest, (c.notAfter.getTime() - c.notBefore.getTime()) / 1000);
      } catch {
        // An unreadable root has no lifetime to go by.
      }
    }
    hint = Number.isFinite(shortest) ? Math.max(60, shortest / 10) : DEFAULT_HINT_S;
  }
  return Math.max(250, (hint * 1000) / 4);
}

export class BundleRefresher {
  #d: BundleRefresherDeps;
  #updaters = new Map<string, Updater>();
  #log: Logger;
  #failures: { inc(labels?: Record<string, string>): void } | undefined;

  constructor(deps: BundleRefresherDeps) {
    this.#d = deps;
    this.#log = deps.logger.with({ subsystem_name: "bundle_client" });
    const m = deps.metrics;
    this.#failures = m?.counter("wisp_server_federated_bundle_fetch_failures_total", "Failed fetches of federated bundles");
    if (m) {
      m.gauge("wisp_server_federated_bundle_fetch_failing", "Federated trust domains whose last bundle fetch failed")
        .collect(() => [...this.#updaters.values()].filter((u) => u.status.consecutiveFailures > 0).length);
      m.gauge("wisp_server_federated_trust_domains", "Federated trust domains whose bundles are refreshed").collect(() => this.#updaters.size);
    }
  }

  /** The state of every relationship, for health reports. */
  status(): FederatedBundleStatus[] {
    return [...this.#updaters.values()].map((u) => ({ ...u.status })).sort((a, b) => a.trustDomain.localeCompare(b.trustDomain));
  }

  /** Runs until aborted: re-reads relationships every 10 s and keeps one loop per trust domain. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.reload();
      try {
        await this.#d.clock.sleep(RELOAD_MS, signal);
      } catch {
        break;
      }
    }
    for (const u of this.#updaters.values()) u.stop.abort();
    this.#updaters.clear();
  }

  /** Picks up relationships created, changed or deleted through the API (on any server sharing the datastore). */
  async reload(): Promise<void> {
    let stored: FederationRelationship[] = [];
    try {
      stored = await this.#d.ds.listFederationRelationships();
    } catch (err) {
      this.#log.warn("Failed to list federation relationships", { [F.ERROR]: formatError(err) });
      return;
    }
    const wanted = new Map<string, FederationRelationship>();
    for (const r of stored) wanted.set(r.trustDomain, r);
    for (const r of this.#d.configured) wanted.set(r.trustDomain, r);
    for (const [td, u] of this.#updaters) {
      const w = wanted.get(td);
      if (!w || JSON.stringify(w) !== JSON.stringify(u.rel)) {
        u.stop.abort();
        this.#updaters.delete(td);
      }
    }
    for (const [td, rel] of wanted) {
      if (this.#updaters.has(td)) continue;
      const u: Updater = { rel, stop: new AbortController(), wake: () => {}, status: { trustDomain: td, consecutiveFailures: 0 } };
      this.#updaters.set(td, u);
      this.#log.info("Starting bundle refresher", { [F.TRUST_DOMAIN_ID]: td });
      void this.#loop(u);
    }
  }

  /**
   * Fetches one trust domain's bundle now (`federation refresh`).
   * @throws {NotFoundError} `there is no federation relationship with trust domain "x"`
   */
  async refresh(trustDomain: string): Promise<void> {
    await this.reload();
    const u = this.#updaters.get(trustDomain);
    if (!u) throw new NotFoundError(`there is no federation relationship with trust domain "${trustDomain}"`);
    await this.#fetchAndStore(u);
  }

  async #loop(u: Updater): Promise<void> {
    let retry = FIRST_RETRY_MS;
    while (!u.stop.signal.aborted) {
      let wait: number;
      try {
        const b = await this.#fetchAndStore(u);
        retry = FIRST_RETRY_MS;
        wait = pollIntervalMs(b);
      } catch {
        // The last good bundle stays; retry sooner than the poll, backing off up to it.
        const local = await this.#d.ds.fetchBundle(u.rel.trustDomain).catch(() => undefined);
        wait = Math.min(retry, pollIntervalMs(local));
        retry = Math.min(retry * 2, 5 * 60_000);
      }
      try {
        await this.#d.clock.sleep(wait, u.stop.signal);
      } catch {
        return;
      }
    }
  }

  async #fetchAndStore(u: Updater): Promise<Bundle> {
    const td = u.rel.trustDomain;
    try {
      const body = await this.#fetch(u.rel);
      const data = await parseBundleDocument(body, td, this.#d.clock.now());
      if (data.x509Authorities.length === 0) throw new UnavailableError("bundle has no X.509 authorities");
      const before = await this.#d.ds.fetchBundle(td);
      const stored = await this.#d.ds.setBundle({
        trustDomain: td,
        x509Authorities: data.x509Authorities,
        jwtKeys: data.jwtKeys,
        refreshHint: data.refreshHint,
        sequence: data.sequence,
      });
      if (stored.sequence !== before?.sequence) {
        this.#log.info("Bundle refreshed", { [F.TRUST_DOMAIN_ID]: td });
        this.#d.onChange?.();
      }
      if (u.status.consecutiveFailures > 0) this.#log.info("Bundle endpoint is reachable again", { [F.TRUST_DOMAIN_ID]: td });
      u.status = { trustDomain: td, lastSuccess: this.#d.clock.now().toISOString(), consecutiveFailures: 0 };
      return stored;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.#log.error("Error updating bundle", { [F.TRUST_DOMAIN_ID]: td, [F.ERROR]: formatError(err) });
      u.status = { ...u.status, lastError: message, consecutiveFailures: u.status.consecutiveFailures + 1 };
      this.#failures?.inc({ trust_domain: td });
      throw err;
    }
  }

  async #fetch(rel: FederationRelationship): Promise<Uint8Array> {
    const url = new URL(rel.bundleEndpointURL);
    if (rel.profile.type === "https_web") {
      const res = await this.#d.httpGet(url.toString()).catch((err: unknown) => {
        throw new UnavailableError(`unable to fetch bundle: ${(err as Error).message}`, { cause: err });
      });
      if (res.status !== 200) {
        throw new UnavailableError(`unexpected status ${res.status} fetching bundle: ${new TextDecoder().decode(res.body.slice(0, 1024))}`);
      }
      return res.body;
    }
    const endpointID = spiffeid.fromString(rel.profile.endpointSPIFFEID);
    const local = await this.#d.ds.fetchBundle(endpointID.trustDomain.name);
    if (!local || local.x509Authorities.length === 0) {
      throw new UnavailableError("can't perform SPIFFE Authentication: local copy of bundle not found");
    }
    const conn = this.#d.connector.connect({
      address: url.hostname.replace(/^\[|\]$/g, ""),
      port: url.port === "" ? 443 : Number(url.port),
      roots: local.x509Authorities,
      serverID: endpointID.toString(),
    });
    try {
      const res = await conn.fetch(url.pathname + url.search, { method: "GET" }).catch((err: unknown) => {
        throw new UnavailableError(`unable to fetch bundle: ${(err as Error).message}`, { cause: err });
      });
      const body = await readLimited(res);
      if (res.status !== 200) throw new UnavailableError(`unexpected status ${res.status} fetching bundle: ${new TextDecoder().decode(body.slice(0, 1024))}`);
      return body;
    } finally {
      await conn.close().catch(() => {});
    }
  }
}

/** Reads at most the document limit plus one byte, so an endless body cannot exhaust memory. */
async function readLimited(res: Response): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array();
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    n += value.length;
    if (n > MAX_BUNDLE_DOCUMENT_BYTES) {
      await reader.cancel().catch(() => {});
      break;
    }
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
