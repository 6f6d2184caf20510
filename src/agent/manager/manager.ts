/**
 * The agent manager: attests the node, keeps the agent SVID fresh, receives entries and bundles by push,
 * and keeps one X509-SVID per workload entry, rotating each at half its life.
 * @module
 */
import { exportPKCS8, generateKeyPair, importPKCS8 } from "../../core/crypto/ec_p256.ts";
import { equalBytes, fromBase64, toHex } from "../../core/encoding.ts";
import { FailedPreconditionError, formatError, isUnknownAuthority, ServiceError, UnavailableError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { FS } from "../../core/ports/fs.ts";
import type { Selector } from "../../core/selector.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { createCSR, parseCertificate, verifyX509SVID } from "../../core/x509/mod.ts";
import type { IssuedJWTSVID, ServerClient, SyncBundleJSON, SyncMessage } from "../client/server_client.ts";
import { SyncedEntries } from "./synced_entries.ts";
import { JWTSVIDCache } from "./jwt_cache.ts";
import { deleteAgentState, loadAgentState, saveAgentState } from "./agent_state.ts";
import { shouldAgentShutdown } from "./should_shutdown.ts";
import type { AgentNodeAttestor } from "../nodeattestor/node_attestor.ts";
import {
  type BundleState,
  type CachedEntry,
  type CachedSVID,
  DEFAULT_SVID_CACHE_MAX_SIZE,
  entryMatches,
  type FederatedBundle,
  type Identity,
  isWorkloadEntry,
  rotationTime,
  sortEntries,
} from "./svid_cache.ts";
import { mintWorkloadSVIDs } from "./mint_workload_svids.ts";
import { logEntryChanges } from "./log_entry_changes.ts";

export interface AgentManagerConfig {
  trustDomain: spiffeid.TrustDomain;
  client: ServerClient;
  fs: FS;
  /**
   * KeyManager "disk" `directory`: the agent key and SVID are kept there (file 0600, directory created 0700), so a
   * restart needs no new join token. Absent: KeyManager "memory", nothing is written.
   */
  keyDirectory?: string | undefined;
  /**
   * The bootstrap bundle (trust_bundle_path / trust_bundle_url), asked for at each attestation attempt; absent with
   * insecure_bootstrap.
   */
  bootstrapBundle?: (() => Promise<Uint8Array[]>) | undefined;
  /** The configured node attestor (join_token or x509pop …). */
  attestor: AgentNodeAttestor;
  /** SPIRE's rebootstrap_mode; default "never". */
  rebootstrapMode?: "never" | "auto" | "always" | undefined;
  /** How long unknown-authority errors are tolerated before rebootstrapping, ms. Default 10 min. */
  rebootstrapDelay?: number | undefined;
  insecureBootstrap: boolean;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /**
   * `experimental.sync_interval`: first delay before reconnecting the sync stream after it failed or ended, ms;
   * doubling up to min(8 min, 48 × this) as SPIRE caps its sync backoff. Absent: 500 ms, up to 30 s.
   */
  syncInterval?: number | undefined;
  /**
   * `x509_svid_cache_max_size` (SPIRE's LRU cache; default 1,000): at most this many workload X509-SVIDs are kept
   * beyond those a Workload API stream holds. Entries past it get their SVID when a workload asks for it.
   */
  svidCacheMaxSize?: number | undefined;
  /** `jwt_svid_cache_max_size` (default 1,000): JWT-SVIDs kept per SPIFFE ID and audience set, least recently used dropped. */
  jwtSVIDCacheMaxSize?: number | undefined;
}

/** SVIDs the background pass mints per server round trip. */
const RECONCILE_SLICE = 64;

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
  /** Foreign bundles the server sent for the entries' federates_with, keyed by trust domain name. */
  #federated = new Map<string, FederatedBundle>();
  /** Bumped when any federated bundle changes, so streams resend only then. */
  #federatedVersion = 0;
  /** Workload X509-SVIDs by entry ID, least recently used first (Map order; a use moves one to the end). */
  #svids = new Map<string, CachedSVID>();
  #maxSVIDs: number;
  /** Selector sets of open Workload API streams (by key, with a count): their entries are minted and never evicted. */
  #holders = new Map<string, { selectors: Selector[]; count: number }>();
  /** Entry IDs the holders match; recomputed when entries or holders change. */
  #pinned: Set<string> | undefined;
  /** Mints under way, by entry ID, so a workload's request and the background pass never mint one entry twice. */
  #inflight = new Map<string, Promise<void>>();
  #listeners = new Set<() => void>();
  #synced = false;
  #reconciling: Promise<void> = Promise.resolve();
  #random: () => number;
  #stats = { snapshots: 0, lastApplyMs: 0, minted: 0 };
  #jwt: JWTSVIDCache;
  /** Set when the server banned this agent: the reason run() ends with. */
  #banned: unknown;
  #stopRun: () => void = () => {};
  /** Whether the server lets this agent re-attest (x509pop) instead of renewing (join_token). */
  #reattestable = false;
  #reattesting: Promise<void> | undefined;
  #rebootstrapMode: "never" | "auto" | "always";
  /** When the server's certificate was first seen not to chain to our bundle (rebootstrap trigger). */
  #untrustedSince: number | undefined;
  /** Hex SKIs of tainted X.509 authorities and key IDs of tainted JWT authorities, from the last snapshot. */
  #taintedX509 = new Set<string>();
  #taintedJWT = new Set<string>();
  /** When the last sync snapshot was applied (the admin API's last_sync_success). */
  #lastSync: Date | undefined;
  /** The entries from the sync stream, with the cursor and digest a reconnect sends. */
  #held = new SyncedEntries();

  constructor(cfg: AgentManagerConfig) {
    this.#rebootstrapMode = cfg.rebootstrapMode ?? "never";
    this.#maxSVIDs = cfg.svidCacheMaxSize ?? DEFAULT_SVID_CACHE_MAX_SIZE;
    this.#c = cfg;
    this.#log = cfg.logger.with({ subsystem_name: "manager" });
    this.#bundle = { trustDomain: cfg.trustDomain.idString(), roots: [], jwtKeys: [], sequence: 0, rootsVersion: 0 };
    this.#random = cfg.random ?? Math.random;
    this.#jwt = new JWTSVIDCache({
      source: cfg.client,
      clock: cfg.clock,
      logger: this.#log,
      ...(cfg.jwtSVIDCacheMaxSize === undefined ? {} : { maxSize: cfg.jwtSVIDCacheMaxSize }),
      keyIDs: () => this.#bundle.jwtKeys.map((k) => k.kid).filter((k) => !this.#taintedJWT.has(k)),
    });
  }

  /** A JWT-SVID for one of the workload's entries, from the cache or newly signed by the server. */
  fetchJWTSVID(entry: CachedEntry, audience: string[]): Promise<IssuedJWTSVID> {
    return this.#jwt.fetch(entry, audience);
  }

  get agentID(): string {
    return this.#agent ? parseCertificate(this.#agent.chain[0]!).uris[0] ?? "" : "";
  }

  /** Whether the last attestation (or the persisted SVID) allows re-attestation. */
  get reattestable(): boolean {
    return this.#reattestable;
  }

  /** Attests (or reuses a persisted agent SVID) and connects. @throws when the node cannot be attested */
  async initialize(): Promise<void> {
    const c = this.#c;
    const now = c.clock.now();
    const saved = c.keyDirectory === undefined ? undefined : await loadAgentState(c.fs, c.keyDirectory);
    if (saved) {
      const info = parseCertificate(saved.svidChain[0]!);
      // SPIRE treats an SVID with less than a second left as expired (attestor/node).
      if (info.notAfter.getTime() > now.getTime() + 1000) {
        this.#setAgentSVID(saved.svidChain, saved.keyPKCS8);
        this.#bundle.roots = saved.roots;
        this.#reattestable = saved.reattestable;
        c.client.setCredentials(saved.roots, { chainDER: saved.svidChain, keyPKCS8: saved.keyPKCS8 });
        this.#log.info("Reusing persisted agent SVID", {
          [F.SPIFFE_ID]: info.uris[0],
          [F.EXPIRATION]: info.notAfter.toISOString(),
          reattestable: saved.reattestable,
        });
        this.#checkRebootstrapSupport();
        return;
      }
      this.#log.warn("Persisted agent SVID has expired; attesting again", { [F.EXPIRATION]: info.notAfter.toISOString() });
    } else {
      this.#log.info("SVID is not found. Starting node attestation");
    }
    // A persisted bundle stays trusted for a re-attestation (SPIRE keeps it); otherwise bootstrap.
    let roots: Uint8Array[];
    if (saved && saved.roots.length > 0) roots = saved.roots;
    else if (c.bootstrapBundle) roots = await c.bootstrapBundle();
    else if (c.insecureBootstrap) {
      this.#log.warn("Insecure bootstrap enabled; the server's identity is not verified for the first connection");
      c.client.setCredentials("insecure");
      roots = await c.client.fetchBundle();
    } else throw new FailedPreconditionError("a trust bundle is required unless insecure_bootstrap is set");
    c.client.setCredentials(roots);
    this.#bundle.roots = roots;
    await this.#attest();
    this.#checkRebootstrapSupport();
  }

  /** Full node attestation with a fresh key: first start, expired SVID, or re-attestation instead of renewal. */
  async #attest(): Promise<void> {
    const c = this.#c;
    const pair = await generateKeyPair(true);
    let attested;
    try {
      attested = await c.client.attest(c.attestor, await createCSR(pair));
    } catch (err) {
      // The server was refused before any attestation data was sent, so a join token is still good for the next try.
      if (isUnknownAuthority(err)) this.#log.info("Trust Bundle and Server don't agree, bootstrapping again");
      throw err;
    }
    const { svid, reattestable } = attested;
    const keyPKCS8 = await exportPKCS8(pair.privateKey);
    await verifyX509SVID(svid.chain, this.#bundle.roots, c.clock.now());
    this.#setAgentSVID(svid.chain, keyPKCS8);
    this.#reattestable = reattestable;
    await this.#persist();
    c.client.setCredentials(this.#bundle.roots, { chainDER: svid.chain, keyPKCS8 });
    this.#log.info("Node attestation was successful", {
      [F.SPIFFE_ID]: svid.spiffeID,
      [F.EXPIRATION]: svid.notAfter.toISOString(),
      reattestable,
      [F.TRUST_DOMAIN_ID]: c.trustDomain.idString(),
    });
  }

  /** One re-attestation at a time, whichever loop asks for it. */
  #reattest(): Promise<void> {
    this.#reattesting ??= (async () => {
      try {
        await this.#attest();
        this.#log.info("Successfully reattested node", { [F.SPIFFE_ID]: this.agentID });
        this.#untrustedSince = undefined;
      } finally {
        this.#reattesting = undefined;
      }
    })();
    return this.#reattesting;
  }

  /**
   * Rebootstrapping re-attests from scratch, so it needs a re-attestable agent (SPIRE checks after attestation):
   * "always" is fatal without one, "auto" falls back to "never" with a warning.
   * @throws {FailedPreconditionError}
   */
  #checkRebootstrapSupport(): void {
    if (this.#reattestable || this.#rebootstrapMode === "never") return;
    if (this.#rebootstrapMode === "always") {
      throw new FailedPreconditionError(
        "you have requested rebootstrap support but the NodeAttestor plugin or the spire server configuration is not allowing it",
      );
    }
    this.#log.warn(
      "Rebootstrap mode auto needs a re-attestable agent; the NodeAttestor plugin or the server configuration does not allow it, so rebootstrap_mode is now never",
    );
    this.#rebootstrapMode = "never";
  }

  /** Syncs, rotates and renews until aborted. @throws the server's refusal when it banned this agent */
  async run(signal: AbortSignal): Promise<void> {
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    if (signal.aborted) stop.abort();
    this.#stopRun = () => stop.abort();
    try {
      await Promise.all([this.#syncLoop(stop.signal), this.#rotationLoop(stop.signal)]);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    if (this.#banned !== undefined) throw this.#banned;
  }

  /**
   * When the server says this agent is banned (sync, renewal or SVID signing), deletes the persisted SVID and ends
   * run() with that error, as SPIRE's manager does; returns whether it did.
   */
  async #shutdownIfBanned(err: unknown): Promise<boolean> {
    if (!shouldAgentShutdown(err)) return false;
    if (this.#banned !== undefined) return true;
    this.#banned = err;
    this.#log.warn("Agent is banned: removing SVID and shutting down", { [F.ERROR]: formatError(err) });
    try {
      await this.#forget();
    } catch (deleteErr) {
      this.#log.error("Failed to remove the agent SVID", { [F.ERROR]: formatError(deleteErr) });
    }
    this.#stopRun();
    return true;
  }

  /** Deletes the persisted agent SVID and key (banned, cannot re-attest, rebootstrap); nothing to do in memory. */
  async #forget(): Promise<void> {
    if (this.#c.keyDirectory !== undefined) await deleteAgentState(this.#c.fs, this.#c.keyDirectory);
  }

  /** True once the first sync from the server has been applied. */
  get synced(): boolean {
    return this.#synced;
  }

  /** The workload's identities that have an SVID now, SPIRE's order; each counts as a use for the LRU. */
  identities(selectors: Selector[]): Identity[] {
    const out: Identity[] = [];
    for (const e of this.entriesFor(selectors)) {
      const svid = this.#svids.get(e.id);
      if (!svid) continue;
      this.#svids.delete(e.id);
      this.#svids.set(e.id, svid);
      out.push({ entry: e, svid });
    }
    return out;
  }

  /** The workload entries the selectors match, whether or not their SVID is cached, oldest first. */
  entriesFor(selectors: Selector[]): CachedEntry[] {
    const out: CachedEntry[] = [];
    for (const e of this.#held.candidates(selectors)) if (isWorkloadEntry(e) && entryMatches(e, selectors)) out.push(e);
    return sortEntries(out);
  }

  /**
   * Marks the selectors' entries as held by a stream until the returned function is called: their SVIDs are minted
   * (also for entries that arrive later) and not evicted.
   */
  hold(selectors: Selector[]): () => void {
    const key = selectors.map((s) => `${s.type}:${s.value}`).sort().join("\n");
    const h = this.#holders.get(key);
    if (h) h.count++;
    else this.#holders.set(key, { selectors, count: 1 });
    this.#pinned = undefined;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const cur = this.#holders.get(key);
      if (cur && --cur.count === 0) this.#holders.delete(key);
      this.#pinned = undefined;
    };
  }

  /**
   * Mints now whatever SVID the selectors' entries lack (entries beyond the cache size, or not yet minted after the
   * first sync), without waiting for the background pass. @throws the server's error when minting failed
   */
  async ensure(selectors: Selector[]): Promise<void> {
    const now = this.#c.clock.now().getTime();
    const missing = this.entriesFor(selectors).filter((e) => {
      const s = this.#svids.get(e.id);
      return !s || s.revision !== e.revisionNumber || s.notAfter.getTime() <= now;
    });
    if (missing.length > 0) await this.#mint(missing);
  }

  #pins(): Set<string> {
    if (!this.#pinned) {
      const pinned = new Set<string>();
      for (const h of this.#holders.values()) for (const e of this.entriesFor(h.selectors)) pinned.add(e.id);
      this.#pinned = pinned;
    }
    return this.#pinned;
  }

  bundle(): BundleState {
    return this.#bundle;
  }

  /**
   * The foreign bundles for the trust domains that the workload's matching entries federate with (SPIRE's
   * GatherFederatedBundles), sorted by trust domain; a trust domain whose bundle the server has not sent is left out.
   * The Workload API and SDS use this.
   */
  federatedBundles(selectors: Selector[]): FederatedBundle[] {
    return this.federatedBundlesFor(this.entriesFor(selectors));
  }

  /** The same, for entries already looked up; a property of the entries, so it needs no cached SVID. */
  federatedBundlesFor(entries: CachedEntry[]): FederatedBundle[] {
    const tds = new Set<string>();
    for (const e of entries) for (const td of e.federatesWith ?? []) tds.add(td);
    return [...tds].sort().flatMap((td) => {
      const b = this.#federated.get(td);
      return b ? [b] : [];
    });
  }

  /** Changes whenever a federated bundle changes. */
  get federatedVersion(): number {
    return this.#federatedVersion;
  }

  /** Rebuilds the federated bundles from what the sync stream holds; only called when one of them changed. */
  #applyFederated(): void {
    const next = new Map<string, FederatedBundle>();
    for (const [td, b] of this.#held.federated) {
      next.set(td, {
        trustDomain: `spiffe://${td}`,
        roots: b.x509_authorities.map(fromBase64),
        jwtKeys: b.jwt_authorities.map((k) => ({ kid: k.kid, publicKey: fromBase64(k.public_key), notAfter: k.expires_at })),
      });
    }
    this.#federated = next;
    this.#federatedVersion++;
  }

  /** Counts for /metrics: entries and SVIDs held, snapshots applied, last apply time (ms), SVIDs minted. */
  stats(): { entries: number; svids: number; snapshots: number; lastApplyMs: number; minted: number } {
    return { entries: this.#held.entries.size, svids: this.#svids.size, ...this.#stats };
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
    if (this.#c.keyDirectory === undefined || !this.#agent) return;
    await saveAgentState(this.#c.fs, this.#c.keyDirectory, {
      svidChain: this.#agent.chain,
      keyPKCS8: this.#agent.keyPKCS8,
      roots: this.#bundle.roots,
      reattestable: this.#reattestable,
    });
  }

  async #syncLoop(signal: AbortSignal): Promise<void> {
    const base = this.#c.syncInterval ?? 500;
    const cap = this.#c.syncInterval === undefined ? 30_000 : Math.min(8 * 60_000, 48 * this.#c.syncInterval);
    let backoff = base;
    while (!signal.aborted) {
      try {
        const resume = this.#held.resume(this.#bundle.sequence);
        await this.#c.client.sync(signal, resume, async (m) => {
          backoff = base;
          return await this.#apply(m);
        });
        // A digest mismatch ended the stream: ask for a full snapshot at once.
        if (this.#held.cursor === undefined && this.#synced && !signal.aborted) continue;
        if (!signal.aborted) this.#log.warn("Sync stream ended; reconnecting");
      } catch (err) {
        if (signal.aborted || (await this.#shutdownIfBanned(err))) return;
        if (await this.#handleAgentError(err)) {
          backoff = 500;
          continue;
        }
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

  /**
   * Applies a full snapshot or a delta; returns false when the resulting entry set's digest differs from the
   * server's, so the caller reconnects for a full snapshot.
   */
  async #apply(m: SyncMessage): Promise<boolean> {
    const started = this.#c.clock.now().getTime();
    const b = m.body.bundle;
    const rootsChanged = b ? this.#applyBundle(b) : false;
    const { ok, before, after, federatedChanged } = this.#held.apply(m);
    if (federatedChanged) this.#applyFederated();
    logEntryChanges(this.#log.with({ subsystem_name: "cache_manager" }), before, after);
    for (const id of before.keys()) if (!this.#held.entries.has(id)) this.#svids.delete(id);
    if (before.size > 0 || after.size > 0) this.#pinned = undefined;
    if (b) this.#applyTaints(b.tainted_x509_authorities ?? [], b.tainted_jwt_authorities ?? []);
    if (!ok) {
      this.#log.warn("Entry set differs from the server's after a sync update; requesting a full snapshot", { revision: m.body.revision });
      return false;
    }
    this.#log.debug(m.kind === "snapshot" ? "Applied sync snapshot" : "Applied sync delta", {
      [F.COUNT]: this.#held.entries.size,
      revision: m.body.revision,
      ...(m.kind === "delta" ? { upserts: m.body.upserts.length, deletes: m.body.deletes.length } : {}),
    });
    if (rootsChanged) {
      await this.#persist();
      const a = this.#agent!;
      // New roots (CA rotation): trust them for the server connection too. The current stream keeps running.
      this.#c.client.setCredentials(this.#bundle.roots, { chainDER: a.chain, keyPKCS8: a.keyPKCS8 });
    }
    // The agent serves as soon as it has its entries: SVIDs come from the background pass or, for a workload that
    // asks first, from ensure().
    void this.#reconcile();
    this.#lastSync = this.#c.clock.now();
    this.#synced = true;
    this.#stats.snapshots++;
    this.#stats.lastApplyMs = this.#c.clock.now().getTime() - started;
    this.#notify();
    return true;
  }

  /** Returns whether the X.509 roots changed. */
  #applyBundle(b: SyncBundleJSON): boolean {
    const roots = b.x509_authorities.map(fromBase64);
    const rootsChanged = roots.length !== this.#bundle.roots.length || roots.some((r, i) => !equalBytes(r, this.#bundle.roots[i]!));
    this.#bundle = {
      trustDomain: spiffeid.trustDomainFromString(b.trust_domain).idString(),
      roots,
      jwtKeys: b.jwt_authorities.map((k) => ({ kid: k.kid, publicKey: fromBase64(k.public_key), notAfter: k.expires_at })),
      sequence: b.sequence,
      rootsVersion: this.#bundle.rootsVersion + (rootsChanged ? 1 : 0),
    };
    return rootsChanged;
  }

  /**
   * Reacts to authorities an operator tainted (SPIRE key-compromise flow): every workload SVID and the agent SVID
   * whose chain includes or is signed by a tainted authority is due for replacement now, not at half-life.
   */
  #applyTaints(x509: string[], jwt: string[]): void {
    const fresh = x509.filter((k) => !this.#taintedX509.has(k));
    const freshJWT = jwt.filter((k) => !this.#taintedJWT.has(k));
    this.#taintedX509 = new Set(x509);
    this.#taintedJWT = new Set(jwt);
    if (freshJWT.length > 0) this.#log.debug("New tainted JWT authorities found", { jwt_authority_key_ids: freshJWT.join(",") });
    if (fresh.length === 0) return;
    this.#log.debug("New tainted X.509 authorities found", { subject_key_ids: fresh.join(",") });
    const now = new Date(this.#c.clock.now().getTime());
    let count = 0;
    for (const svid of this.#svids.values()) {
      if (this.#chainTainted(svid.chain)) {
        svid.rotateAt = now;
        count++;
      }
    }
    if (count > 0) this.#log.debug("Scheduled rotation for SVID entries due to tainted X.509 authorities", { [F.COUNT]: count });
    if (this.#agent && this.#chainTainted(this.#agent.chain)) {
      this.#log.info("Agent SVID is tainted by a root authority, forcing rotation");
      this.#agent.rotateAt = now;
    }
  }

  #chainTainted(chain: Uint8Array[]): boolean {
    for (const der of chain) {
      const info = parseCertificate(der);
      if ((info.ski && this.#taintedX509.has(toHex(info.ski))) || (info.aki && this.#taintedX509.has(toHex(info.aki)))) return true;
    }
    return false;
  }

  /**
   * The background pass: renews cached SVIDs that are stale or due, mints the ones streams hold, fills the cache up
   * to its size with the others, then evicts the least recently used unheld ones past the size. Serialised.
   */
  #reconcile(): Promise<void> {
    const run = this.#reconciling.then(async () => {
      const now = this.#c.clock.now().getTime();
      const pins = this.#pins();
      let room = this.#maxSVIDs - this.#svids.size;
      const due: CachedEntry[] = [];
      for (const e of this.#held.entries.values()) {
        if (!isWorkloadEntry(e) || this.#inflight.has(e.id)) continue;
        const s = this.#svids.get(e.id);
        if (s) {
          if (s.revision !== e.revisionNumber || s.rotateAt.getTime() <= now) due.push(e);
        } else if (pins.has(e.id)) due.push(e);
        else if (room > 0) {
          room--;
          due.push(e);
        }
      }
      // In slices: a workload's on-demand mint (ensure) then waits behind one slice of key generations and CSRs,
      // not behind the whole cache fill after the first sync.
      for (let i = 0; i < due.length; i += RECONCILE_SLICE) await this.#mint(due.slice(i, i + RECONCILE_SLICE));
      this.#evict();
    });
    this.#reconciling = run.catch(async (err) => {
      if (!(await this.#shutdownIfBanned(err))) this.#log.warn("Failed to update workload SVIDs", { [F.ERROR]: formatError(err) });
    });
    return this.#reconciling;
  }

  /** Gets SVIDs for the entries from the server (those already being minted are waited for, not minted again). */
  async #mint(entries: CachedEntry[]): Promise<void> {
    const waits: Promise<void>[] = [];
    const todo: CachedEntry[] = [];
    for (const e of entries) {
      const p = this.#inflight.get(e.id);
      if (p) waits.push(p);
      else todo.push(e);
    }
    if (todo.length > 0) {
      for (const e of todo) {
        const current = this.#svids.get(e.id);
        // SPIRE's manager lines (pkg/agent/manager/sync.go); its integration scripts grep the SPIFFE ID in them.
        if (current) {
          this.#log.info("Renewing X509-SVID", { [F.SPIFFE_ID]: e.spiffeID, [F.ENTRY_ID]: e.id, expires_at: current.notAfter.toISOString() });
        } else this.#log.info("Creating X509-SVID", { [F.SPIFFE_ID]: e.spiffeID, [F.ENTRY_ID]: e.id });
      }
      const p = mintWorkloadSVIDs({ client: this.#c.client, entries: todo, clock: this.#c.clock, random: this.#random, logger: this.#log }).then((minted) => {
        // In request order, so the LRU order does not depend on which key finished first.
        for (const e of todo) {
          const svid = minted.get(e.id);
          if (!svid || !this.#held.entries.has(e.id)) continue;
          this.#svids.delete(e.id);
          this.#svids.set(e.id, svid);
        }
        this.#stats.minted += minted.size;
        this.#evict();
        if (minted.size > 0) this.#notify();
      });
      const settled = p.then(() => {}, () => {});
      for (const e of todo) this.#inflight.set(e.id, settled);
      void settled.then(() => {
        for (const e of todo) if (this.#inflight.get(e.id) === settled) this.#inflight.delete(e.id);
      });
      waits.push(p);
    }
    await Promise.all(waits);
  }

  /** Drops least recently used SVIDs past the cache size, never one a stream holds (SPIRE's LRU cache). */
  #evict(): void {
    let over = this.#svids.size - this.#maxSVIDs;
    if (over <= 0) return;
    const pins = this.#pins();
    for (const id of this.#svids.keys()) {
      if (over <= 0) break;
      if (pins.has(id)) continue;
      this.#svids.delete(id);
      over--;
    }
  }

  async #rotationLoop(signal: AbortSignal): Promise<void> {
    let retryAt = 0;
    while (!signal.aborted) {
      if (!(await this.#c.clock.sleep(1000, signal).then(() => true, () => false))) return;
      await this.#reconcile();
      const a = this.#agent;
      const now = this.#c.clock.now().getTime();
      if (!a || now < a.rotateAt.getTime() || now < retryAt) continue;
      try {
        // Re-attestable agents rotate by attesting again with a new key (SPIRE's rotator); the others renew.
        if (this.#reattestable) await this.#reattest();
        else await this.#renewAgent();
        retryAt = 0;
      } catch (err) {
        if (await this.#shutdownIfBanned(err)) return;
        if (await this.#handleAgentError(err)) continue;
        if (this.#c.clock.now().getTime() < a.notAfter.getTime()) {
          this.#log.warn(this.#reattestable ? "Failed to reattest agent" : "Failed to renew agent SVID", {
            [F.ERROR]: formatError(err),
            [F.EXPIRATION]: a.notAfter.toISOString(),
          });
          continue;
        }
        if (this.#reattestable) {
          // No SVID is needed to attest again, so while no server answers an agent that can re-attest keeps trying,
          // instead of exiting as SPIRE does and waiting for a supervisor to restart it. A server's refusal (an
          // expired node certificate, a ban) is final, as in SPIRE.
          if ((err as { status?: string }).status !== "UNAVAILABLE") {
            this.#log.error("Agent SVID has expired and the node could not re-attest", {
              [F.EXPIRATION]: a.notAfter.toISOString(),
              [F.ERROR]: formatError(err),
            });
            throw new FailedPreconditionError("current SVID has already expired and reattest agent failed", { cause: err });
          }
          this.#log.warn("Agent SVID has expired; will attempt to re-attest", {
            [F.ERROR]: formatError(err),
            [F.EXPIRATION]: a.notAfter.toISOString(),
            retry_ms: 5000,
          });
          retryAt = this.#c.clock.now().getTime() + 5000;
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

  /**
   * Acts on SPIRE's agent authorization reasons (nodeutil): re-attest on EXPIRED, NOT_ACTIVE, NOT_ATTESTED and
   * MUST_REATTEST when the agent can; otherwise, and on BANNED, forget the SVID and end the agent with the server's
   * error. Also runs the rebootstrap clock on unknown-authority TLS errors.
   * @returns true when the error was handled by re-attesting
   * @throws the fatal error when the agent must shut down
   */
  async #handleAgentError(err: unknown): Promise<boolean> {
    const reason = err instanceof ServiceError ? err.reason : undefined;
    if (reason === "AGENT_EXPIRED" || reason === "AGENT_NOT_ACTIVE" || reason === "AGENT_NOT_ATTESTED" || reason === "AGENT_MUST_REATTEST") {
      if (!this.#reattestable && reason !== "AGENT_MUST_REATTEST") {
        this.#log.error("Agent needs to re-attest: removing SVID and shutting down", { [F.ERROR]: formatError(err) });
        await this.#forget();
        throw new FailedPreconditionError("attestation method is not re-attestable", { cause: err });
      }
      this.#log.warn("Agent needs to re-attest; will attempt to re-attest", { [F.ERROR]: formatError(err) });
      await this.#reattest();
      return true;
    }
    if (this.#rebootstrapMode !== "never" && isUnknownAuthority(err)) {
      const now = this.#c.clock.now().getTime();
      this.#untrustedSince ??= now;
      const delay = this.#c.rebootstrapDelay ?? 10 * 60_000;
      if (now - this.#untrustedSince < delay) {
        this.#log.warn("Trust bundle and server don't agree; ignoring for now", { [F.ERROR]: formatError(err), rebootstrap_delay_ms: delay });
        return false;
      }
      this.#log.warn("Agent needs to rebootstrap. shutting down", { [F.ERROR]: formatError(err) });
      await this.#forget();
      throw new FailedPreconditionError("shutting down for rebootstrapping", { cause: err });
    }
    return false;
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

  /** The agent's own X509-SVID chain, leaf first; empty before attestation (SPIRE GetCurrentCredentials). */
  agentSVIDChain(): Uint8Array[] {
    return this.#agent?.chain ?? [];
  }

  /** When the last sync snapshot from the server was applied; undefined before the first (SPIRE GetLastSync). */
  get lastSync(): Date | undefined {
    return this.#lastSync;
  }

  /** JWT-SVIDs held in the cache (SPIRE CountJWTSVIDs). */
  countJWTSVIDs(): number {
    return this.#jwt.size;
  }

  /**
   * The workload entries matching the selectors, whether or not an X509-SVID is cached for them, oldest first (SPIRE
   * MatchingRegistrationEntries; the Delegated Identity API authorizes callers and signs JWT-SVIDs from these).
   */
  matchingEntries(selectors: Selector[]): CachedEntry[] {
    return this.entriesFor(selectors);
  }

  /** Every foreign bundle the agent holds, sorted by trust domain (SPIRE's bundle cache, minus the own bundle). */
  allFederatedBundles(): FederatedBundle[] {
    return [...this.#federated.keys()].sort().map((td) => this.#federated.get(td)!);
  }

  /** @throws {UnavailableError} while the first sync has not happened */
  requireSynced(): void {
    if (!this.#synced) throw new UnavailableError("agent has not synced with the server yet");
  }
}
