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
import type { DataStore } from "../datastore/datastore.ts";
import { authorizedEntries } from "./authorized_entries.ts";
import { type EntryJSON, entryToJSON } from "./entry_json.ts";

/** What an agent receives on every push: the full state, so a reconnect needs no replay. */
export interface SyncSnapshot {
  revision: number;
  bundle: { trust_domain: string; x509_authorities: string[]; jwt_authorities: { kid: string; public_key: string; expires_at: number }[]; sequence: number };
  entries: EntryJSON[];
}

interface Subscriber {
  agentID: string;
  send: (s: SyncSnapshot) => void;
  /** Ends the stream: the agent was evicted or banned since it connected. */
  close: () => void;
  last: string;
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
  #lastSeq = -1;

  constructor(cfg: { ds: DataStore; trustDomain: string; logger: Logger; clock: Clock }) {
    this.#ds = cfg.ds;
    this.#td = cfg.trustDomain;
    this.#log = cfg.logger;
    this.#clock = cfg.clock;
  }

  /** Registers an agent stream and sends it the current state at once. */
  async subscribe(agentID: string, send: (s: SyncSnapshot) => void, close: () => void = () => {}): Promise<() => void> {
    const sub: Subscriber = { agentID, send, close, last: "" };
    this.#subs.add(sub);
    await this.#push(sub);
    return () => this.#subs.delete(sub);
  }

  get subscribers(): number {
    return this.#subs.size;
  }

  /** Recomputes every subscriber's snapshot; calls made while one is running coalesce into one more run. */
  notify(): Promise<void> {
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
        const seq = (await this.#ds.fetchBundle(this.#td))?.sequence ?? 0;
        if (ev !== this.#lastEvent || seq !== this.#lastSeq) {
          const first = this.#lastEvent === -1;
          this.#lastEvent = ev;
          this.#lastSeq = seq;
          if (!first) await this.notify();
        }
      } catch (err) {
        this.#log.warn("Failed to poll for entry changes", { [F.ERROR]: formatError(err) });
      }
      try {
        await this.#clock.sleep(intervalMs, signal);
      } catch {
        return;
      }
    }
  }

  /** The snapshot for one agent (also used by the non-streaming sync endpoint). */
  async snapshot(agentID: string): Promise<SyncSnapshot> {
    const [entries, bundle, revision] = await Promise.all([
      authorizedEntries(this.#ds, agentID),
      this.#ds.fetchBundle(this.#td),
      this.#ds.lastEntryEventID(),
    ]);
    return {
      revision,
      bundle: {
        trust_domain: this.#td,
        x509_authorities: (bundle?.x509Authorities ?? []).map(toBase64),
        jwt_authorities: (bundle?.jwtKeys ?? []).map((k) => ({ kid: k.kid, public_key: toBase64(k.publicKey), expires_at: k.notAfter })),
        sequence: bundle?.sequence ?? 0,
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
      const snap = await this.snapshot(sub.agentID);
      // Revision changes with any entry event; compare content so agents only hear about their own changes.
      const key = JSON.stringify([snap.bundle, snap.entries]);
      if (key === sub.last) return;
      sub.last = key;
      sub.send(snap);
    } catch (err) {
      this.#log.warn("Failed to compute agent sync snapshot", { [F.AGENT_ID]: sub.agentID, [F.ERROR]: formatError(err) });
    }
  }
}
