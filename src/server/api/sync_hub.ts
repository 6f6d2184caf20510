/**
 * Pushes each connected agent its authorized entries and the bundle whenever either changes.
 * Changes made through this server are pushed at once; a poll of the datastore's entry events and bundle
 * sequence catches changes made by other servers sharing the database.
 * @module
 */
import { toBase64 } from "../../core/encoding.ts";
import { formatError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { Selector } from "../../core/selector.ts";
import type { DataStore } from "../datastore/datastore.ts";
import { EntryIndex } from "./authorized_entries.ts";
import type { RegistrationEntry } from "../datastore/datastore.ts";
import { type EntryJSON, entryToJSON } from "./entry_json.ts";
import type { Counter, Registry } from "../../core/metrics/registry.ts";

/** What an agent receives on every push: the full state, so a reconnect needs no replay. */
export interface SyncSnapshot {
  revision: number;
  bundle: {
    trust_domain: string;
    x509_authorities: string[];
    jwt_authorities: { kid: string; public_key: string; expires_at: number }[];
    sequence: number;
    /** Hex subject key IDs of tainted X.509 authorities: agents replace every SVID chaining to one at once. */
    tainted_x509_authorities: string[];
    /** Key IDs of tainted JWT authorities: agents drop cached JWT-SVIDs they signed. */
    tainted_jwt_authorities: string[];
  };
  entries: EntryJSON[];
  /** Bundles of the trust domains the agent's entries federate with, by trust domain name (absent ones left out). */
  federated_bundles?: Record<string, { x509_authorities: string[]; jwt_authorities: { kid: string; public_key: string; expires_at: number }[] }>;
}

interface Subscriber {
  agentID: string;
  /** Receives the snapshot as JSON text, serialised once per push. */
  send: (data: string) => void;
  /** Ends the stream: the agent was evicted or banned since it connected. */
  close: () => void;
  last: string;
  /** When this stream last received a snapshot. */
  lastPush?: Date;
}

export class SyncHub {
  #ds: DataStore;
  #td: string;
  #log: Logger;
  #clock: Clock;
  #subs = new Set<Subscriber>();
  #pending: Promise<void> | undefined;
  #again = false;
  #lastEvent = -1;
  #lastSeq = "";
  #dsError: { message: string; since: Date } | undefined;
  #index: { gen: number; entries: Promise<EntryIndex> } | undefined;
  #gen = 0;
  /** Earliest expires_at (unix s) among entries not yet expired at the last index build; Infinity when none. */
  #nextExpiry = Infinity;

  #pushes: Counter | undefined;

  /** `metrics`: counts pushes in `wisp_server_sync_pushes_total` (the console's activity chart). */
  constructor(cfg: { ds: DataStore; trustDomain: string; logger: Logger; clock: Clock; metrics?: Registry | undefined }) {
    this.#pushes = cfg.metrics?.counter("wisp_server_sync_pushes_total", "Snapshots pushed to agents on their sync streams");
    this.#ds = cfg.ds;
    this.#td = cfg.trustDomain;
    this.#log = cfg.logger;
    this.#clock = cfg.clock;
  }

  /** Registers an agent stream and sends it the current state at once. */
  async subscribe(agentID: string, send: (data: string) => void, close: () => void = () => {}): Promise<() => void> {
    const sub: Subscriber = { agentID, send, close, last: "" };
    this.#subs.add(sub);
    await this.#push(sub);
    return () => this.#subs.delete(sub);
  }

  /** Ends one agent's streams now (it was banned or evicted); authentication refuses its reconnect. */
  disconnect(agentID: string): void {
    for (const sub of this.#subs) {
      if (sub.agentID !== agentID) continue;
      this.#subs.delete(sub);
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
    for (const s of this.#subs) {
      const prev = out.get(s.agentID);
      out.set(s.agentID, prev && s.lastPush && prev > s.lastPush ? prev : s.lastPush ?? prev);
    }
    return out;
  }

  /** Whether the last poll reached the datastore; the poll runs every 500 ms, so this is the server's datastore health. */
  datastoreHealth(): { ok: boolean; lastError?: string; since?: Date } {
    const e = this.#dsError;
    return e ? { ok: false, lastError: e.message, since: e.since } : { ok: true };
  }

  /** Recomputes every subscriber's snapshot; calls made while one is running coalesce into one more run. */
  notify(): Promise<void> {
    this.#gen++;
    if (this.#pending) {
      this.#again = true;
      return this.#pending;
    }
    this.#pending = (async () => {
      do {
        this.#again = false;
        await Promise.all([...this.#subs].map((s) => this.#push(s)));
      } while (this.#again);
    })().finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  /** Polls for changes from other servers until aborted. */
  async run(signal: AbortSignal, intervalMs = 500): Promise<void> {
    while (!signal.aborted) {
      try {
        const ev = await this.#ds.lastEntryEventID();
        // Every bundle's sequence: the own one and the federated ones another server refreshed.
        const seq = (await this.#ds.listBundles()).map((b) => `${b.trustDomain}:${b.sequence}`).join(",");
        if (ev !== this.#lastEvent || seq !== this.#lastSeq) {
          const first = this.#lastEvent === -1;
          this.#lastEvent = ev;
          this.#lastSeq = seq;
          if (!first) await this.notify();
        } else if (this.#nextExpiry <= this.#nowSeconds()) {
          // An entry reached its -entryExpiry: push so agents drop it (and stop serving its SVID).
          this.#nextExpiry = Infinity;
          await this.notify();
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
   * The entries an agent may see, from an index of all entries built once per change (notify) and shared by every
   * agent's push and signing request, instead of one datastore query per reachable ID per agent.
   */
  async authorizedEntries(agentID: string, nodeSelectors: readonly Selector[] = []): Promise<RegistrationEntry[]> {
    if (!this.#index || this.#index.gen !== this.#gen) {
      const entries = this.#ds.listEntries().then((list) => {
        // SPIRE does not serve an entry past its expiry (-entryExpiry); the poll loop re-pushes when the next one expires.
        const now = this.#nowSeconds();
        const live = list.filter((e) => !e.expiresAt || e.expiresAt > now);
        this.#nextExpiry = live.reduce((m, e) => (e.expiresAt ? Math.min(m, e.expiresAt) : m), Infinity);
        return new EntryIndex(live, `spiffe://${this.#td}/spire/server`);
      });
      this.#index = { gen: this.#gen, entries };
      entries.catch(() => {
        if (this.#index?.entries === entries) this.#index = undefined;
      });
    }
    return (await this.#index.entries).descendants(agentID, nodeSelectors);
  }

  #nowSeconds(): number {
    return Math.floor(this.#clock.now().getTime() / 1000);
  }

  /** The snapshot for one agent (also used by the non-streaming sync endpoint). */
  async snapshot(agentID: string, nodeSelectors: readonly Selector[] = []): Promise<SyncSnapshot> {
    const [entries, bundle, revision] = await Promise.all([
      this.authorizedEntries(agentID, nodeSelectors),
      this.#ds.fetchBundle(this.#td),
      this.#ds.lastEntryEventID(),
    ]);
    const wanted = [...new Set(entries.flatMap((e) => e.federatesWith ?? []))].sort();
    const federated: NonNullable<SyncSnapshot["federated_bundles"]> = {};
    for (const td of wanted) {
      const b = await this.#ds.fetchBundle(td);
      if (!b) continue;
      federated[td] = {
        x509_authorities: b.x509Authorities.map(toBase64),
        jwt_authorities: b.jwtKeys.map((k) => ({ kid: k.kid, public_key: toBase64(k.publicKey), expires_at: k.notAfter })),
      };
    }
    return {
      revision,
      ...(wanted.length > 0 ? { federated_bundles: federated } : {}),
      bundle: {
        trust_domain: this.#td,
        x509_authorities: (bundle?.x509Authorities ?? []).map(toBase64),
        jwt_authorities: (bundle?.jwtKeys ?? []).map((k) => ({ kid: k.kid, public_key: toBase64(k.publicKey), expires_at: k.notAfter })),
        sequence: bundle?.sequence ?? 0,
        tainted_x509_authorities: bundle?.taintedX509 ?? [],
        tainted_jwt_authorities: bundle?.taintedJWT ?? [],
      },
      entries: entries.map(entryToJSON),
    };
  }

  async #push(sub: Subscriber): Promise<void> {
    try {
      const node = await this.#ds.fetchAttestedNode(sub.agentID);
      if (!node || node.banned) {
        this.#subs.delete(sub);
        this.#log.info("Closing sync stream of an agent that is no longer attested", { [F.AGENT_ID]: sub.agentID });
        sub.close();
        return;
      }
      const snap = await this.snapshot(sub.agentID, node.selectors);
      // Revision changes with any entry event; compare content so agents only hear about their own changes. The
      // content is serialised once and reused as the message body (it can be megabytes with many entries).
      const body = JSON.stringify({
        bundle: snap.bundle,
        entries: snap.entries,
        ...(snap.federated_bundles ? { federated_bundles: snap.federated_bundles } : {}),
      });
      if (body === sub.last) return;
      sub.last = body;
      sub.lastPush = this.#clock.now();
      this.#pushes?.inc();
      sub.send(`{"revision":${snap.revision},${body.slice(1)}`);
    } catch (err) {
      this.#log.warn("Failed to compute agent sync snapshot", { [F.AGENT_ID]: sub.agentID, [F.ERROR]: formatError(err) });
    }
  }
}
