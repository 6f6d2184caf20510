/**
 * The agent manager: attests the node, keeps the agent SVID fresh, receives entries and bundles by push,
 * and keeps one X509-SVID per workload entry, rotating each at half its life.
 * @module
 */
import { exportPKCS8, generateKeyPair, importPKCS8 } from "../../core/crypto/ec_p256.ts";
import { equalBytes, fromBase64 } from "../../core/encoding.ts";
import { FailedPreconditionError, formatError, UnavailableError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { FS } from "../../core/ports/fs.ts";
import type { Selector } from "../../core/selector.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { createCSR, parseCertificate, verifyX509SVID } from "../../core/x509/mod.ts";
import type { IssuedJWTSVID, ServerClient, SyncSnapshotJSON } from "../client/server_client.ts";
import { JWTSVIDCache } from "./jwt_cache.ts";
import { loadAgentState, saveAgentState } from "./agent_state.ts";
import { type BundleState, type CachedEntry, type CachedSVID, entryMatches, type Identity, isWorkloadEntry, rotationTime, sortIdentities } from "./svid_cache.ts";
import { mintWorkloadSVIDs } from "./mint_workload_svids.ts";
import { logEntryChanges } from "./log_entry_changes.ts";

export interface AgentManagerConfig {
  trustDomain: spiffeid.TrustDomain;
  client: ServerClient;
  fs: FS;
  dataDir: string;
  /** Keep the agent key and SVID on disk (KeyManager "disk"), so a restart needs no new join token. */
  persist: boolean;
  joinToken?: string | undefined;
  /** Roots from trust_bundle_path; absent with insecure_bootstrap. */
  bootstrapRoots?: Uint8Array[] | undefined;
  /**
   * Reads or downloads the bootstrap bundle (trust_bundle_path / trust_bundle_url) when bootstrapRoots is absent.
   * Called only when the agent must attest, as SPIRE consults its trust bundle sources only to bootstrap, so a
   * restart with a persisted SVID does not depend on the bundle URL being reachable.
   */
  loadBootstrapRoots?: (() => Promise<Uint8Array[] | undefined>) | undefined;
  insecureBootstrap: boolean;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /**
   * `experimental.sync_interval`: first delay before reconnecting the sync stream after it failed or ended, ms;
   * doubling up to min(8 min, 48 × this) as SPIRE caps its sync backoff. Absent: 500 ms, up to 30 s.
   */
  syncInterval?: number | undefined;
}

interface AgentSVID {
  chain: Uint8Array[];
  keyPKCS8: Uint8Array;
  issuedAt: Date;
  notAfter: Date;
  rotateAt: Date;
}

export class AgentManager {
  #c: AgentManagerConfig;
  #log: Logger;
  #agent: AgentSVID | undefined;
  #bundle: BundleState;
  #entries = new Map<string, CachedEntry>();
  #svids = new Map<string, CachedSVID>();
  #listeners = new Set<() => void>();
  #synced = false;
  #reconciling: Promise<void> = Promise.resolve();
  #random: () => number;
  #stats = { snapshots: 0, lastApplyMs: 0, minted: 0 };
  #jwt: JWTSVIDCache;

  constructor(cfg: AgentManagerConfig) {
    this.#c = cfg;
    this.#log = cfg.logger.with({ subsystem_name: "manager" });
    this.#bundle = { trustDomain: cfg.trustDomain.idString(), roots: [], jwtKeys: [], sequence: 0, rootsVersion: 0 };
    this.#random = cfg.random ?? Math.random;
    this.#jwt = new JWTSVIDCache({ source: cfg.client, clock: cfg.clock, logger: this.#log, keyIDs: () => this.#bundle.jwtKeys.map((k) => k.kid) });
  }

  /** A JWT-SVID for one of the workload's entries, from the cache or newly signed by the server. */
  fetchJWTSVID(entry: CachedEntry, audience: string[]): Promise<IssuedJWTSVID> {
    return this.#jwt.fetch(entry, audience);
  }

  get agentID(): string {
    return this.#agent ? parseCertificate(this.#agent.chain[0]!).uris[0] ?? "" : "";
  }

  /** Attests (or reuses a persisted agent SVID) and connects. @throws when the node cannot be attested */
  async initialize(): Promise<void> {
    const c = this.#c;
    const now = c.clock.now();
    const saved = c.persist ? await loadAgentState(c.fs, c.dataDir) : undefined;
    if (saved) {
      const info = parseCertificate(saved.svidChain[0]!);
      if (info.notAfter.getTime() > now.getTime()) {
        this.#setAgentSVID(saved.svidChain, saved.keyPKCS8);
        this.#bundle.roots = saved.roots;
        c.client.setCredentials(saved.roots, { chainDER: saved.svidChain, keyPKCS8: saved.keyPKCS8 });
        this.#log.info("Reusing persisted agent SVID", { [F.SPIFFE_ID]: info.uris[0], [F.EXPIRATION]: info.notAfter.toISOString() });
        return;
      }
      this.#log.warn("Persisted agent SVID has expired; attesting again", { [F.EXPIRATION]: info.notAfter.toISOString() });
    }
    if (!c.joinToken) {
      throw new FailedPreconditionError("agent is not attested: a join token is required (-joinToken or agent.join_token)");
    }
    let roots: Uint8Array[];
    const bootstrap = c.bootstrapRoots ?? (await c.loadBootstrapRoots?.());
    if (bootstrap && bootstrap.length > 0) roots = bootstrap;
    else if (c.insecureBootstrap) {
      this.#log.warn("Insecure bootstrap enabled; the server's identity is not verified for the first connection");
      c.client.setCredentials("insecure");
      roots = await c.client.fetchBundle();
    } else throw new FailedPreconditionError("a trust bundle is required unless insecure_bootstrap is set");
    c.client.setCredentials(roots);
    const pair = await generateKeyPair(true);
    const svid = await c.client.attestJoinToken(c.joinToken, await createCSR(pair));
    const keyPKCS8 = await exportPKCS8(pair.privateKey);
    await verifyX509SVID(svid.chain, roots, c.clock.now());
    this.#setAgentSVID(svid.chain, keyPKCS8);
    this.#bundle.roots = roots;
    await this.#persist();
    c.client.setCredentials(roots, { chainDER: svid.chain, keyPKCS8 });
    this.#log.info("Node attestation was successful", { [F.SPIFFE_ID]: svid.spiffeID, [F.EXPIRATION]: svid.notAfter.toISOString() });
  }

  /** Syncs, rotates and renews until aborted. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.#syncLoop(signal), this.#rotationLoop(signal)]);
  }

  /** True once the first sync from the server has been applied. */
  get synced(): boolean {
    return this.#synced;
  }

  /** The workload's identities, SPIRE's order; empty means "no identity issued". */
  identities(selectors: Selector[]): Identity[] {
    const out: Identity[] = [];
    for (const e of this.#entries.values()) {
      const svid = this.#svids.get(e.id);
      if (svid && isWorkloadEntry(e) && entryMatches(e, selectors)) out.push({ entry: e, svid });
    }
    return sortIdentities(out);
  }

  bundle(): BundleState {
    return this.#bundle;
  }

  /** Counts for /metrics: entries and SVIDs held, snapshots applied, last apply time (ms), SVIDs minted. */
  stats(): { entries: number; svids: number; snapshots: number; lastApplyMs: number; minted: number } {
    return { entries: this.#entries.size, svids: this.#svids.size, ...this.#stats };
  }

  /** Calls `fn` after every change to entries, SVIDs or the bundle. */
  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #notify(): void {
    for (const fn of this.#listeners) {
      try {
        fn();
      } catch (err) {
        this.#log.warn("Subscriber failed", { [F.ERROR]: formatError(err) });
      }
    }
  }

  #setAgentSVID(chain: Uint8Array[], keyPKCS8: Uint8Array): void {
    const info = parseCertificate(chain[0]!);
    const issuedAt = this.#c.clock.now();
    const from = info.notBefore.getTime() < issuedAt.getTime() ? info.notBefore : issuedAt;
    this.#agent = { chain, keyPKCS8, issuedAt: from, notAfter: info.notAfter, rotateAt: rotationTime(from, info.notAfter, this.#random) };
  }

  async #persist(): Promise<void> {
    if (!this.#c.persist || !this.#agent) return;
    await saveAgentState(this.#c.fs, this.#c.dataDir, { svidChain: this.#agent.chain, keyPKCS8: this.#agent.keyPKCS8, roots: this.#bundle.roots });
  }

  async #syncLoop(signal: AbortSignal): Promise<void> {
    const base = this.#c.syncInterval ?? 500;
    const cap = this.#c.syncInterval === undefined ? 30_000 : Math.min(8 * 60_000, 48 * this.#c.syncInterval);
    let backoff = base;
    while (!signal.aborted) {
      try {
        await this.#c.client.sync(signal, async (s) => {
          backoff = base;
          await this.#apply(s);
        });
        if (!signal.aborted) this.#log.warn("Sync stream ended; reconnecting");
      } catch (err) {
        if (signal.aborted) return;
        this.#log.warn("Failed to sync with the server", { [F.ERROR]: formatError(err), retry_ms: backoff });
      }
      try {
        await this.#c.clock.sleep(backoff, signal);
      } catch {
        return;
      }
      backoff = Math.min(backoff * 2, cap);
    }
  }

  async #apply(s: SyncSnapshotJSON): Promise<void> {
    const started = this.#c.clock.now().getTime();
    const roots = s.bundle.x509_authorities.map(fromBase64);
    const rootsChanged = roots.length !== this.#bundle.roots.length || roots.some((r, i) => !equalBytes(r, this.#bundle.roots[i]!));
    this.#bundle = {
      trustDomain: spiffeid.trustDomainFromString(s.bundle.trust_domain).idString(),
      roots,
      jwtKeys: s.bundle.jwt_authorities.map((k) => ({ kid: k.kid, publicKey: fromBase64(k.public_key), notAfter: k.expires_at })),
      sequence: s.bundle.sequence,
      rootsVersion: this.#bundle.rootsVersion + (rootsChanged ? 1 : 0),
    };
    const next = new Map<string, CachedEntry>();
    for (const e of s.entries) {
      next.set(e.id, {
        id: e.id,
        spiffeID: `spiffe://${e.spiffe_id.trust_domain}${e.spiffe_id.path}`,
        parentID: `spiffe://${e.parent_id.trust_domain}${e.parent_id.path}`,
        selectors: e.selectors,
        x509SVIDTTL: e.x509_svid_ttl,
        dnsNames: e.dns_names ?? [],
        hint: e.hint ?? "",
        revisionNumber: e.revision_number,
        createdAt: e.created_at,
      });
    }
    logEntryChanges(this.#log.with({ subsystem_name: "cache_manager" }), this.#entries, next);
    this.#entries = next;
    for (const id of [...this.#svids.keys()]) if (!next.has(id)) this.#svids.delete(id);
    this.#log.debug("Applied sync snapshot", { [F.COUNT]: next.size, revision: s.revision });
    if (rootsChanged) {
      await this.#persist();
      const a = this.#agent!;
      // New roots (CA rotation): trust them for the server connection too. The current stream keeps running.
      this.#c.client.setCredentials(roots, { chainDER: a.chain, keyPKCS8: a.keyPKCS8 });
    }
    await this.#reconcile();
    this.#synced = true;
    this.#stats.snapshots++;
    this.#stats.lastApplyMs = this.#c.clock.now().getTime() - started;
    this.#notify();
  }

  /** Mints what is missing, stale or due; serialised so overlapping triggers never double-mint. */
  #reconcile(): Promise<void> {
    const run = this.#reconciling.then(async () => {
      const now = this.#c.clock.now().getTime();
      const due = [...this.#entries.values()].filter((e) => {
        if (!isWorkloadEntry(e)) return false;
        const s = this.#svids.get(e.id);
        return !s || s.revision !== e.revisionNumber || s.rotateAt.getTime() <= now;
      });
      if (due.length === 0) return;
      for (const e of due) {
        const current = this.#svids.get(e.id);
        // SPIRE's manager lines (pkg/agent/manager/sync.go); its integration scripts grep the SPIFFE ID in them.
        if (current) {
          this.#log.info("Renewing X509-SVID", { [F.SPIFFE_ID]: e.spiffeID, [F.ENTRY_ID]: e.id, expires_at: current.notAfter.toISOString() });
        } else this.#log.info("Creating X509-SVID", { [F.SPIFFE_ID]: e.spiffeID, [F.ENTRY_ID]: e.id });
      }
      const minted = await mintWorkloadSVIDs({ client: this.#c.client, entries: due, clock: this.#c.clock, random: this.#random, logger: this.#log });
      for (const [id, svid] of minted) if (this.#entries.has(id)) this.#svids.set(id, svid);
      this.#stats.minted += minted.size;
      if (minted.size > 0) this.#notify();
    });
    this.#reconciling = run.catch((err) => this.#log.warn("Failed to update workload SVIDs", { [F.ERROR]: formatError(err) }));
    return this.#reconciling;
  }

  async #rotationLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!(await this.#c.clock.sleep(1000, signal).then(() => true, () => false))) return;
      await this.#reconcile();
      const a = this.#agent;
      if (!a || this.#c.clock.now().getTime() < a.rotateAt.getTime()) continue;
      try {
        await this.#renewAgent();
      } catch (err) {
        if (this.#c.clock.now().getTime() < a.notAfter.getTime()) {
          this.#log.warn("Failed to renew agent SVID", { [F.ERROR]: formatError(err), [F.EXPIRATION]: a.notAfter.toISOString() });
          continue;
        }
        // A join-token agent cannot re-attest (SPIRE CanReattest=false), and no server accepts an expired SVID:
        // retrying is pointless, so stop as SPIRE's rotator does and tell the operator the one way out.
        this.#log.error("Agent SVID has expired and could not be renewed; a new join token is required", {
          [F.EXPIRATION]: a.notAfter.toISOString(),
          [F.ERROR]: formatError(err),
          action: "generate a join token on a server (wisp-server token generate) and restart the agent with -joinToken",
        });
        throw new FailedPreconditionError("current SVID has already expired and rotate agent SVID failed", { cause: err });
      }
    }
  }

  async #renewAgent(): Promise<void> {
    const pair = await generateKeyPair(true);
    const svid = await this.#c.client.renew(await createCSR(pair));
    const keyPKCS8 = await exportPKCS8(pair.privateKey);
    await verifyX509SVID(svid.chain, this.#bundle.roots, this.#c.clock.now());
    await importPKCS8(keyPKCS8); // proves the key round-trips before the old one is dropped
    this.#setAgentSVID(svid.chain, keyPKCS8);
    await this.#persist();
    this.#c.client.setCredentials(this.#bundle.roots, { chainDER: svid.chain, keyPKCS8 });
    this.#log.info("Successfully rotated agent SVID", { [F.SPIFFE_ID]: svid.spiffeID, [F.EXPIRATION]: svid.notAfter.toISOString() });
  }

  /** @throws {UnavailableError} while the first sync has not happened */
  requireSynced(): void {
    if (!this.#synced) throw new UnavailableError("agent has not synced with the server yet");
  }
}
