/**
 * Pushes each connected agent what changed in its authorized entries and in the bundle (incremental sync).
 *
 * The hub keeps every live entry in an index updated in place from the datastore's entry events, which it tails
 * both after a change made through this server (notify) and on a poll (changes made by other servers sharing the
 * database). For each changed entry it walks the index upward to the agents whose crawl reaches the entry (before and
 * after the change), recomputes only those agents' sets and sends each the difference: upserts, deletions by entry
 * ID, the bundle only when its sequence changed, the cursor and a digest of the resulting set. Work per change is
 * proportional to the agents it affects, not to all agents. Federated bundles follow the entries: an agent gets the
 * bundle of every trust domain its entries federate with, and a changed federated bundle goes only to the agents
 * whose entries name its trust domain.
 *
 * An agent that reconnects sends its cursor and digest: an unchanged set gets an empty delta; a cursor this server's
 * change log still covers gets the entries touched since; anything else (first contact, a cursor older than the log)
 * gets a full snapshot. The agent checks the digest after applying a message and asks for a full snapshot when it
 * differs, so a missed change can never persist.
 * @module
 */
import { toBase64 } from "../../core/encoding.ts";
import { formatError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { Selector } from "../../core/selector.ts";
import { EntrySetDigest } from "../../core/sync/entry_set_digest.ts";
import { type BundleContentJSON, bundleDigest } from "../../core/sync/bundle_digest.ts";
import type { Bundle, DataStore, RegistrationEntry } from "../datastore/datastore.ts";
import { EntryIndex, isNodeAliasOf } from "./authorized_entries.ts";
import { type EntryJSON, entryToJSON } from "./entry_json.ts";
import type { Counter, Registry } from "../../core/metrics/registry.ts";

export interface SyncBundleJSON {
  trust_domain: string;
  x509_authorities: string[];
  jwt_authorities: { kid: string; public_key: string; expires_at: number }[];
  sequence: number;
  /** Hex subject key IDs of tainted X.509 authorities: agents replace every SVID chaining to one at once. */
  tainted_x509_authorities: string[];
  /** Key IDs of tainted JWT authorities: agents drop cached JWT-SVIDs they signed. */
  tainted_jwt_authorities: string[];
}

/** A foreign trust domain's bundle, for the entries that federate with it. */
export type SyncFederatedBundleJSON = BundleContentJSON;

/** A foreign bundle as the hub holds it: the JSON every agent gets and its content digest. */
interface FederatedBundle {
  json: SyncFederatedBundleJSON;
  digest: string;
}

/** SSE event "snapshot": the agent's whole state; it replaces whatever the agent held. */
export interface SyncSnapshot {
  /** The cursor to send back on reconnect (`since`). */
  revision: number;
  /** EntrySetDigest of `entries`. */
  digest: string;
  bundle: SyncBundleJSON;
  entries: EntryJSON[];
  /** The bundles of the trust domains the entries federate with, by name (trust domains without a bundle left out). */
  federated_bundles?: Record<string, SyncFederatedBundleJSON>;
}

/** SSE event "delta": what changed since the previous message (or since the agent's cursor on reconnect). */
export interface SyncDelta {
  revision: number;
  /** EntrySetDigest of the agent's whole set once the delta is applied. */
  digest: string;
  /** Present only when the bundle's sequence differs from the one the agent has. */
  bundle?: SyncBundleJSON;
  upserts: EntryJSON[];
  /** Entry IDs the agent must drop (it ignores IDs it does not hold). */
  deletes: string[];
  /** Federated bundles new to the agent or changed, by trust domain name. */
  federated_bundles?: Record<string, SyncFederatedBundleJSON>;
  /** Trust domains whose bundle the agent must drop: no entry names them any more, or the bundle was deleted. */
  federated_bundles_removed?: string[];
}

/** What a reconnecting agent says it holds. */
export interface SyncResume {
  since?: number | undefined;
  digest?: string | undefined;
  bundleSequence?: number | undefined;
  /** Federated bundles held: trust domain name → bundleDigest. */
  federated?: Map<string, string> | undefined;
}

interface Subscriber {
  agentID: string;
  selectors: Selector[];
  send: (event: "snapshot" | "delta", data: string) => void;
  /** Ends the stream: the agent was evicted or banned since it connected. */
  close: () => void;
  /** Entry ID → revision the agent holds after our last message. */
  sent: Map<string, number>;
  digest: EntrySetDigest;
  bundleSeq: number;
  /** Trust domains the agent's entries federate with (whether or not a bundle exists): the #byFederated key. */
  federates: Set<string>;
  /** Trust domain → bundleDigest of the federated bundles the agent holds after our last message. */
  fedSent: Map<string, string>;
  /** When this stream last received a message. */
  lastPush?: Date;
}

/** How long a hole in the event IDs is waited for (a PostgreSQL transaction that took its ID but commits later). */
const GAP_WAIT_MS = 5_000;
/** Above this many events in one catch-up, reloading every entry is cheaper than fetching each. */
const RELOAD_THRESHOLD = 500;
/** Entries remembered as touched; past this the log restarts, and agents with older cursors get a snapshot. */
const TOUCHED_MAX = 200_000;

interface State {
  index: EntryIndex;
  /** Every event with an ID ≤ this has been applied: the cursor agents get. */
  watermark: number;
  /** Applied events above the watermark (waiting for a hole below them to fill). */
  above: Set<number>;
  /** Holes in the event IDs: ID → when first seen (ms). */
  gaps: Map<number, number>;
  /** Cursors below this are older than the change log: such an agent gets a full snapshot. */
  logStart: number;
  /** Entry ID → the event (cursor) at which it, or its place in the crawl, last changed. */
  touched: Map<string, number>;
  bundle: Bundle | undefined;
  /** Every other trust domain's bundle in the datastore, by name. */
  foreign: Map<string, FederatedBundle>;
}

export class SyncHub {
  #ds: DataStore;
  #td: string;
  #serverID: string;
  #log: Logger;
  #clock: Clock;
  #subs = new Set<Subscriber>();
  #byAgent = new Map<string, Set<Subscriber>>();
  /** Subscribers under each of their node selectors: an alias is matched only against agents that have its first selector. */
  #bySelector = new Map<string, Set<Subscriber>>();
  #state: Promise<State> | undefined;
  /** Serialises catch-ups and subscriptions, so a subscriber's state and the index never move apart. */
  #queue: Promise<unknown> = Promise.resolve();
  #catchingUp: Promise<void> | undefined;
  /** The one catch-up queued behind the running one, which every caller meanwhile shares. */
  #nextCatchUp: Promise<void> | undefined;
  #dsError: { message: string; since: Date } | undefined;
  /** Earliest expires_at (unix s) among indexed entries; Infinity when none. */
  #nextExpiry = Infinity;
  #stats = { deltas: 0, snapshots: 0, bytes: 0 };
  /** Subscribers whose last push failed (datastore error): retried with the next catch-up. */
  #retry = new Set<Subscriber>();
  /** Subscribers by the trust domains their entries federate with: who hears about a federated bundle change. */
  #byFederated = new Map<string, Set<Subscriber>>();
  #pushes: Counter | undefined;

  /** `metrics`: counts messages in `wisp_server_sync_pushes_total` (the console's activity chart). */
  constructor(cfg: { ds: DataStore; trustDomain: string; logger: Logger; clock: Clock; metrics?: Registry | undefined }) {
    this.#pushes = cfg.metrics?.counter("wisp_server_sync_pushes_total", "Snapshots and deltas pushed to agents on their sync streams");
    this.#ds = cfg.ds;
    this.#td = cfg.trustDomain;
    this.#serverID = `spiffe://${cfg.trustDomain}/spire/server`;
    this.#log = cfg.logger;
    this.#clock = cfg.clock;
  }

  /**
   * Registers an agent stream and sends it, at once, what it lacks: nothing but the cursor when its digest matches,
   * the entries touched since its cursor when the change log covers it, else a full snapshot.
   */
  async subscribe(
    agentID: string,
    send: (event: "snapshot" | "delta", data: string) => void,
    close: () => void = () => {},
    resume: SyncResume = {},
  ): Promise<() => void> {
    const sub: Subscriber = {
      agentID,
      selectors: [],
      send,
      close,
      sent: new Map(),
      digest: new EntrySetDigest(),
      bundleSeq: -1,
      federates: new Set(),
      fedSent: new Map(),
    };
    await this.#serial(async () => {
      let st = await this.#load();
      // Another server may have handed out a newer cursor: catch up first so the answer is not older than the agent.
      if (resume.since !== undefined && resume.since > st.watermark) {
        await this.#catchUpNow();
        st = await this.#load();
      }
      const node = await this.#ds.fetchAttestedNode(agentID);
      if (!node || node.banned) {
        this.#log.info("Closing sync stream of an agent that is no longer attested", { [F.AGENT_ID]: agentID });
        close();
        return;
      }
      sub.selectors = node.selectors;
      this.#add(sub);
      this.#greet(st, sub, resume);
    });
    return () => this.#remove(sub);
  }

  #greet(st: State, sub: Subscriber, resume: SyncResume): void {
    const entries = this.#authorized(st, sub);
    const digest = EntrySetDigest.of([...entries.values()].map((e) => [e.id, e.revisionNumber] as const));
    sub.sent = new Map([...entries.values()].map((e) => [e.id, e.revisionNumber]));
    sub.digest = digest;
    const seq = st.bundle?.sequence ?? 0;
    const bundle = resume.bundleSequence === seq ? undefined : this.#bundleJSON(st.bundle);
    sub.bundleSeq = seq;
    this.#setFederates(sub, federatedNames(entries.values()));
    const fed = this.#federatedBundles(st, sub.federates);
    sub.fedSent = new Map([...fed].map(([td, b]) => [td, b.digest]));
    if (resume.since !== undefined && resume.digest !== undefined && (resume.digest === digest.hex() || resume.since >= st.logStart)) {
      const upserts: EntryJSON[] = [];
      const deletes: string[] = [];
      if (resume.digest !== digest.hex()) {
        const since = resume.since;
        for (const e of entries.values()) if ((st.touched.get(e.id) ?? -Infinity) > since) upserts.push(entryToJSON(e));
        for (const [id, at] of st.touched) if (at > since && !entries.has(id)) deletes.push(id);
      }
      const held = resume.federated ?? new Map<string, string>();
      const fedUp: Record<string, SyncFederatedBundleJSON> = {};
      for (const [td, b] of fed) if (held.get(td) !== b.digest) fedUp[td] = b.json;
      const fedGone = [...held.keys()].filter((td) => !fed.has(td));
      this.#sendDelta(sub, {
        revision: st.watermark,
        digest: digest.hex(),
        ...(bundle ? { bundle } : {}),
        upserts,
        deletes,
        ...federatedChanges(fedUp, fedGone),
      });
      return;
    }
    const snap: SyncSnapshot = {
      revision: st.watermark,
      digest: digest.hex(),
      bundle: this.#bundleJSON(st.bundle),
      entries: [...entries.values()].map(entryToJSON),
      ...(fed.size > 0 ? { federated_bundles: Object.fromEntries([...fed].map(([td, b]) => [td, b.json])) } : {}),
    };
    const data = JSON.stringify(snap);
    this.#stats.snapshots++;
    this.#stats.bytes += data.length;
    this.#sent(sub);
    sub.send("snapshot", data);
  }

  #sent(sub: Subscriber): void {
    sub.lastPush = this.#clock.now();
    this.#pushes?.inc();
  }

  /** The datastore's bundles of these trust domains (own trust domain and missing bundles left out). */
  #federatedBundles(st: State, tds: Iterable<string>): Map<string, FederatedBundle> {
    const out = new Map<string, FederatedBundle>();
    for (const td of [...tds].sort()) {
      const b = st.foreign.get(td);
      if (b) out.set(td, b);
    }
    return out;
  }

  /** Re-files the subscriber under the trust domains its entries now federate with. */
  #setFederates(sub: Subscriber, tds: Set<string>): void {
    for (const td of sub.federates) {
      if (tds.has(td)) continue;
      const set = this.#byFederated.get(td);
      set?.delete(sub);
      if (set?.size === 0) this.#byFederated.delete(td);
    }
    if (this.#subs.has(sub)) {
      for (const td of tds) {
        let set = this.#byFederated.get(td);
        if (!set) this.#byFederated.set(td, set = new Set());
        set.add(sub);
      }
    }
    sub.federates = tds;
  }

  #sendDelta(sub: Subscriber, d: SyncDelta): void {
    const data = JSON.stringify(d);
    this.#stats.deltas++;
    this.#stats.bytes += data.length;
    this.#sent(sub);
    sub.send("delta", data);
  }

  #add(sub: Subscriber): void {
    this.#subs.add(sub);
    let set = this.#byAgent.get(sub.agentID);
    if (!set) this.#byAgent.set(sub.agentID, set = new Set());
    set.add(sub);
    for (const s of sub.selectors) {
      const k = `${s.type}:${s.value}`;
      let bs = this.#bySelector.get(k);
      if (!bs) this.#bySelector.set(k, bs = new Set());
      bs.add(sub);
    }
    for (const td of sub.federates) {
      let fs = this.#byFederated.get(td);
      if (!fs) this.#byFederated.set(td, fs = new Set());
      fs.add(sub);
    }
  }

  #remove(sub: Subscriber): void {
    if (!this.#subs.delete(sub)) return;
    const set = this.#byAgent.get(sub.agentID);
    set?.delete(sub);
    if (set?.size === 0) this.#byAgent.delete(sub.agentID);
    for (const s of sub.selectors) {
      const k = `${s.type}:${s.value}`;
      const bs = this.#bySelector.get(k);
      bs?.delete(sub);
      if (bs?.size === 0) this.#bySelector.delete(k);
    }
    for (const td of sub.federates) {
      const fs = this.#byFederated.get(td);
      fs?.delete(sub);
      if (fs?.size === 0) this.#byFederated.delete(td);
    }
  }

  /** Ends one agent's streams now (it was banned or evicted); authentication refuses its reconnect. */
  disconnect(agentID: string): void {
    for (const sub of [...(this.#byAgent.get(agentID) ?? [])]) {
      this.#remove(sub);
      this.#log.info("Closing sync stream of an agent that is no longer attested", { [F.AGENT_ID]: agentID });
      sub.close();
    }
  }

  get subscribers(): number {
    return this.#subs.size;
  }

  /** Agents with an open sync stream now, with the time of their last push (the console's "connected" column). */
  connectedAgents(): Map<string, Date | undefined> {
    const out = new Map<string, Date | undefined>();
    for (const [agentID, subs] of this.#byAgent) {
      let last: Date | undefined;
      for (const s of subs) if (s.lastPush && (!last || s.lastPush > last)) last = s.lastPush;
      out.set(agentID, last);
    }
    return out;
  }

  /** Messages and bytes sent since start (benchmarks, metrics). */
  stats(): { deltas: number; snapshots: number; bytes: number } {
    return { ...this.#stats };
  }

  /** Whether the last poll reached the datastore; the poll runs every 500 ms, so this is the server's datastore health. */
  datastoreHealth(): { ok: boolean; lastError?: string; since?: Date } {
    const e = this.#dsError;
    return e ? { ok: false, lastError: e.message, since: e.since } : { ok: true };
  }

  /**
   * Reads the entry events and the bundle since the last look and pushes the differences. Never rejects: a
   * datastore error is logged and the next poll retries.
   */
  notify(): Promise<void> {
    return this.#catchUp().catch((err) => {
      this.#log.warn("Failed to read entry changes", { [F.ERROR]: formatError(err) });
    });
  }

  /**
   * notify(), rejecting on datastore errors. Calls made while one runs coalesce into one more run, and each caller
   * waits only for the first run that starts after its call: under a steady stream of writes (each one notifies)
   * there is always a next run, and a caller that waited for all of them never returned (seen: the poll loop stayed
   * in a catch-up, so the server did not get ready again after a PostgreSQL crash while clients kept writing).
   */
  #catchUp(): Promise<void> {
    if (this.#nextCatchUp) return this.#nextCatchUp;
    if (this.#catchingUp) {
      this.#nextCatchUp = this.#catchingUp.catch(() => {}).then(() => {
        this.#nextCatchUp = undefined;
        return this.#startCatchUp();
      });
      return this.#nextCatchUp;
    }
    return this.#startCatchUp();
  }

  #startCatchUp(): Promise<void> {
    const run = this.#serial(() => this.#catchUpNow()).finally(() => {
      if (this.#catchingUp === run) this.#catchingUp = undefined;
    });
    this.#catchingUp = run;
    return run;
  }

  /** An agent re-attested with other node selectors: its node aliases, and so its entries, may differ. */
  nodeChanged(agentID: string): Promise<void> {
    return this.#serial(async () => {
      const subs = [...(this.#byAgent.get(agentID) ?? [])];
      if (subs.length === 0) return;
      const st = await this.#load();
      await this.#pushTo(st, new Set(subs), false);
    });
  }

  /**
   * Checks every open stream's agent in one datastore query: streams of agents evicted or banned (through another
   * server) end, and agents whose node selectors changed (re-attested through another server) get the difference.
   * @throws when the datastore cannot be read
   */
  sweepNodes(): Promise<void> {
    return this.#serial(async () => {
      if (this.#subs.size === 0) return;
      const nodes = new Map((await this.#ds.listAttestedNodes()).map((n) => [n.spiffeID, n]));
      const changed = new Set<Subscriber>();
      for (const sub of [...this.#subs]) {
        const node = nodes.get(sub.agentID);
        if (!node || node.banned) {
          this.#remove(sub);
          this.#log.info("Closing sync stream of an agent that is no longer attested", { [F.AGENT_ID]: sub.agentID });
          sub.close();
        } else if (JSON.stringify(node.selectors) !== JSON.stringify(sub.selectors)) changed.add(sub);
      }
      if (changed.size > 0) await this.#pushTo(await this.#load(), changed, false);
    });
  }

  /**
   * Polls for changes from other servers until aborted; every `sweepEvery` polls it also checks the agents of open
   * streams (sweepNodes).
   */
  async run(signal: AbortSignal, intervalMs = 500, sweepEvery = 10): Promise<void> {
    let lastSeen = -1;
    let lastSeq = "";
    let polls = 0;
    while (!signal.aborted) {
      try {
        if (++polls % sweepEvery === 0) await this.sweepNodes();
        // Two cheap reads decide whether there is anything to do; the event tail is read only then.
        const ev = await this.#ds.lastEntryEventID();
        // Every bundle's sequence: the own one and the federated ones another server refreshed.
        const seq = (await this.#ds.listBundles()).map((b) => `${b.trustDomain}:${b.sequence}`).join(",");
        const waiting = this.#state !== undefined && (await this.#state).gaps.size > 0;
        if (ev !== lastSeen || seq !== lastSeq || waiting || this.#nextExpiry <= this.#nowSeconds()) {
          lastSeen = ev;
          lastSeq = seq;
          // Before the index exists there is nothing to bring up to date: building it reads everything.
          if (this.#state !== undefined) await this.#catchUp();
        }
        if (this.#dsError) {
          this.#log.info("Datastore is reachable again", { down_ms: this.#clock.now().getTime() - this.#dsError.since.getTime() });
          this.#dsError = undefined;
        }
      } catch (err) {
        // Logged once per outage: a poll every 500 ms would otherwise flood the log while the database is down.
        if (!this.#dsError) this.#log.warn("Failed to poll for entry changes; datastore is unavailable", { [F.ERROR]: formatError(err) });
        this.#dsError = { message: err instanceof Error ? err.message : String(err), since: this.#dsError?.since ?? this.#clock.now() };
      }
      try {
        await this.#clock.sleep(intervalMs, signal);
      } catch {
        return;
      }
    }
  }

  /**
   * The entries an agent may see, from the shared in-memory index (also for signing requests). `wanted`: entry IDs
   * the agent asks to sign; when one is missing the index first catches up with the datastore, so an entry that
   * another server (or a direct datastore write) just created is not refused until the next poll.
   */
  async authorizedEntries(agentID: string, nodeSelectors: readonly Selector[] = [], wanted: readonly string[] = []): Promise<RegistrationEntry[]> {
    const st = await this.#load();
    if (this.#nextExpiry <= this.#nowSeconds()) await this.#catchUp();
    const out = st.index.descendants(agentID, nodeSelectors);
    if (wanted.length === 0) return out;
    const have = new Set(out.map((e) => e.id));
    if (wanted.every((id) => have.has(id))) return out;
    await this.#catchUp();
    return (await this.#load()).index.descendants(agentID, nodeSelectors);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  #nowSeconds(): number {
    return Math.floor(this.#clock.now().getTime() / 1000);
  }

  #live(e: RegistrationEntry): boolean {
    // SPIRE does not serve an entry past its expiry (-entryExpiry).
    return !e.expiresAt || e.expiresAt > this.#nowSeconds();
  }

  /** Builds the index once: the event cursor is read before the entries, so a change in between is replayed, not lost. */
  #load(): Promise<State> {
    if (!this.#state) {
      const p = (async (): Promise<State> => {
        const watermark = await this.#ds.lastEntryEventID();
        const [list, bundles] = await Promise.all([this.#ds.listEntries(), this.#ds.listBundles()]);
        const index = new EntryIndex(list.filter((e) => this.#live(e)), this.#serverID);
        this.#nextExpiry = nextExpiry(index.values());
        const { own: bundle, foreign } = this.#split(bundles);
        return { index, watermark, above: new Set(), gaps: new Map(), logStart: watermark, touched: new Map(), bundle, foreign };
      })();
      this.#state = p;
      p.catch(() => {
        if (this.#state === p) this.#state = undefined;
      });
    }
    return this.#state;
  }

  /** The agent's entries by ID. */
  #authorized(st: State, sub: { agentID: string; selectors: Selector[] }): Map<string, RegistrationEntry> {
    return new Map(st.index.descendants(sub.agentID, sub.selectors).map((e) => [e.id, e]));
  }

  #split(bundles: Bundle[]): { own: Bundle | undefined; foreign: Map<string, FederatedBundle> } {
    const foreign = new Map<string, FederatedBundle>();
    let own: Bundle | undefined;
    for (const b of bundles) {
      if (b.trustDomain === this.#td) own = b;
      else {
        const json = federatedJSON(b);
        foreign.set(b.trustDomain, { json, digest: bundleDigest(json) });
      }
    }
    return { own, foreign };
  }

  #bundleJSON(b: Bundle | undefined): SyncBundleJSON {
    return {
      trust_domain: this.#td,
      x509_authorities: (b?.x509Authorities ?? []).map(toBase64),
      jwt_authorities: (b?.jwtKeys ?? []).map((k) => ({ kid: k.kid, public_key: toBase64(k.publicKey), expires_at: k.notAfter })),
      sequence: b?.sequence ?? 0,
      tainted_x509_authorities: b?.taintedX509 ?? [],
      tainted_jwt_authorities: b?.taintedJWT ?? [],
    };
  }

  /** Applies new entry events, expiries and a new bundle, then pushes to the agents they reach. Runs in #serial. */
  async #catchUpNow(): Promise<void> {
    const st = await this.#load();
    const affected = new Set<Subscriber>();
    const events = await this.#ds.listEntryEvents(st.watermark);
    const fresh = events.filter((ev) => !st.above.has(ev.id));
    if (fresh.length > RELOAD_THRESHOLD) {
      await this.#reloadAll(st, fresh.at(-1)!.id, affected);
    } else if (fresh.length > 0) {
      const latest = new Map<string, number>();
      for (const ev of fresh) latest.set(ev.entryID, ev.id);
      const rows = await Promise.all([...latest.keys()].map((id) => this.#ds.fetchEntry(id)));
      [...latest.entries()].forEach(([id, at], i) => {
        const row = rows[i];
        this.#change(st, id, row && this.#live(row) ? row : undefined, at, affected);
      });
    }
    for (const ev of fresh) st.above.add(ev.id);
    this.#advance(st);
    this.#expire(st, affected);
    const { own: bundle, foreign } = this.#split(await this.#ds.listBundles());
    const bundleChanged = (bundle?.sequence ?? 0) !== (st.bundle?.sequence ?? 0);
    st.bundle = bundle;
    // A federated bundle that appeared, changed or went away concerns only the agents whose entries name it.
    for (const td of new Set([...foreign.keys(), ...st.foreign.keys()])) {
      if (foreign.get(td)?.digest === st.foreign.get(td)?.digest) continue;
      for (const s of this.#byFederated.get(td) ?? []) affected.add(s);
    }
    st.foreign = foreign;
    for (const s of this.#retry) affected.add(s);
    this.#retry.clear();
    await this.#pushTo(st, bundleChanged ? new Set(this.#subs) : affected, bundleChanged);
  }

  /** Many events at once (a batch create, a restore): one listing instead of one fetch per entry. */
  async #reloadAll(st: State, at: number, affected: Set<Subscriber>): Promise<void> {
    const list = (await this.#ds.listEntries()).filter((e) => this.#live(e));
    const now = new Map(list.map((e) => [e.id, e]));
    for (const e of [...st.index.values()]) if (!now.has(e.id)) this.#change(st, e.id, undefined, at, affected);
    for (const e of list) {
      const old = st.index.get(e.id);
      if (!old || old.revisionNumber !== e.revisionNumber || old.spiffeID !== e.spiffeID || old.parentID !== e.parentID) {
        this.#change(st, e.id, e, at, affected);
      }
    }
  }

  /** Replaces (or removes) one entry in the index, noting the agents it reaches before and after and what it touches. */
  #change(st: State, id: string, next: RegistrationEntry | undefined, at: number, affected: Set<Subscriber>): void {
    const old = st.index.get(id);
    if (old) {
      this.#reached(st, old, affected);
      for (const e of st.index.subtree(old)) this.#touch(st, e.id, at);
    }
    if (next) st.index.upsert(next);
    else st.index.remove(id);
    this.#touch(st, id, at);
    if (next) {
      this.#reached(st, next, affected);
      for (const e of st.index.subtree(next)) this.#touch(st, e.id, at);
      if (next.expiresAt && next.expiresAt < this.#nextExpiry) this.#nextExpiry = next.expiresAt;
    }
  }

  #touch(st: State, id: string, at: number): void {
    st.touched.set(id, at);
    if (st.touched.size > TOUCHED_MAX) {
      // Bounded memory: forget the log; agents reconnecting with an older cursor get a snapshot instead of a delta.
      st.touched.clear();
      st.logStart = Math.ceil(at);
    }
  }

  /** Adds the subscribers whose crawl reaches the entry. */
  #reached(st: State, e: RegistrationEntry, out: Set<Subscriber>): void {
    const { ids, aliases } = st.index.reachers(e);
    for (const id of ids) for (const s of this.#byAgent.get(id) ?? []) out.add(s);
    for (const alias of aliases) {
      const first = alias.selectors[0];
      if (!first) continue;
      for (const s of this.#bySelector.get(`${first.type}:${first.value}`) ?? []) if (isNodeAliasOf(alias, s.selectors)) out.add(s);
    }
  }

  /**
   * Moves the watermark over every contiguous applied event. A hole is waited for GAP_WAIT_MS (its transaction may
   * still commit), then passed over as a rolled-back transaction.
   */
  #advance(st: State): void {
    const now = this.#clock.now().getTime();
    for (let id = st.watermark + 1; st.above.size > 0; id++) {
      if (st.above.has(id)) {
        st.above.delete(id);
        st.gaps.delete(id);
        st.watermark = id;
        continue;
      }
      const seen = st.gaps.get(id);
      if (seen === undefined) {
        st.gaps.set(id, now);
        break;
      }
      if (now - seen < GAP_WAIT_MS) break;
      st.gaps.delete(id);
      st.watermark = id;
    }
    if (st.above.size === 0) st.gaps.clear();
  }

  /** Drops entries that reached their expiry, as deletions touched just after the current cursor. */
  #expire(st: State, affected: Set<Subscriber>): void {
    const now = this.#nowSeconds();
    if (this.#nextExpiry > now) return;
    const gone = [...st.index.values()].filter((e) => !this.#live(e));
    // Between this cursor and the next: an agent holding this cursor still hears about it on reconnect.
    for (const e of gone) this.#change(st, e.id, undefined, st.watermark + 0.5, affected);
    this.#nextExpiry = nextExpiry(st.index.values());
  }

  /** Sends each subscriber the difference between what it holds and what it may now see. */
  async #pushTo(st: State, subs: Set<Subscriber>, bundleChanged: boolean): Promise<void> {
    const seq = st.bundle?.sequence ?? 0;
    const bundle = bundleChanged ? this.#bundleJSON(st.bundle) : undefined;
    await Promise.all([...subs].map(async (sub) => {
      try {
        if (!this.#subs.has(sub)) return;
        const node = await this.#ds.fetchAttestedNode(sub.agentID);
        if (!node || node.banned) {
          this.#remove(sub);
          this.#log.info("Closing sync stream of an agent that is no longer attested", { [F.AGENT_ID]: sub.agentID });
          sub.close();
          return;
        }
        if (JSON.stringify(node.selectors) !== JSON.stringify(sub.selectors)) {
          this.#remove(sub);
          sub.selectors = node.selectors;
          this.#add(sub);
        }
        const entries = this.#authorized(st, sub);
        const upserts: EntryJSON[] = [];
        const deletes: string[] = [];
        for (const [id, rev] of sub.sent) {
          if (entries.has(id)) continue;
          deletes.push(id);
          sub.sent.delete(id);
          sub.digest.toggle(id, rev);
        }
        for (const e of entries.values()) {
          const had = sub.sent.get(e.id);
          if (had === e.revisionNumber) continue;
          if (had !== undefined) sub.digest.toggle(e.id, had);
          sub.digest.toggle(e.id, e.revisionNumber);
          sub.sent.set(e.id, e.revisionNumber);
          upserts.push(entryToJSON(e));
        }
        this.#setFederates(sub, federatedNames(entries.values()));
        const fed = this.#federatedBundles(st, sub.federates);
        const fedUp: Record<string, SyncFederatedBundleJSON> = {};
        for (const [td, b] of fed) {
          if (sub.fedSent.get(td) === b.digest) continue;
          fedUp[td] = b.json;
          sub.fedSent.set(td, b.digest);
        }
        const fedGone = [...sub.fedSent.keys()].filter((td) => !fed.has(td));
        for (const td of fedGone) sub.fedSent.delete(td);
        const sendBundle = bundle !== undefined && sub.bundleSeq !== seq;
        const fedChanges = federatedChanges(fedUp, fedGone);
        if (upserts.length === 0 && deletes.length === 0 && !sendBundle && Object.keys(fedChanges).length === 0) return;
        sub.bundleSeq = seq;
        this.#sendDelta(sub, {
          revision: st.watermark,
          digest: sub.digest.hex(),
          ...(sendBundle ? { bundle } : {}),
          upserts,
          deletes,
          ...fedChanges,
        });
      } catch (err) {
        this.#retry.add(sub);
        this.#log.warn("Failed to compute agent sync changes", { [F.AGENT_ID]: sub.agentID, [F.ERROR]: formatError(err) });
      }
    }));
  }
}

function nextExpiry(entries: Iterable<RegistrationEntry>): number {
  let m = Infinity;
  for (const e of entries) if (e.expiresAt && e.expiresAt < m) m = e.expiresAt;
  return m;
}

/** The trust domains the entries federate with. */
function federatedNames(entries: Iterable<RegistrationEntry>): Set<string> {
  const out = new Set<string>();
  for (const e of entries) for (const td of e.federatesWith ?? []) out.add(td);
  return out;
}

function federatedJSON(b: Bundle): SyncFederatedBundleJSON {
  return {
    x509_authorities: b.x509Authorities.map(toBase64),
    jwt_authorities: b.jwtKeys.map((k) => ({ kid: k.kid, public_key: toBase64(k.publicKey), expires_at: k.notAfter })),
  };
}

/** The delta's federated fields, each present only when it has something. */
function federatedChanges(up: Record<string, SyncFederatedBundleJSON>, gone: string[]): Pick<SyncDelta, "federated_bundles" | "federated_bundles_removed"> {
  return {
    ...(Object.keys(up).length > 0 ? { federated_bundles: up } : {}),
    ...(gone.length > 0 ? { federated_bundles_removed: gone.sort() } : {}),
  };
}
