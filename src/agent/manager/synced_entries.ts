/**
 * The agent's copy of its authorized entries and federated bundles as the sync stream keeps it: a snapshot replaces
 * it, a delta changes it, and after each message the entries' digest must equal the server's, else the agent asks for
 * a full snapshot. @module
 */
import { EntrySetDigest } from "../../core/sync/entry_set_digest.ts";
import { bundleDigest } from "../../core/sync/bundle_digest.ts";
import type { SyncEntryJSON, SyncFederatedBundleJSON, SyncMessage, SyncResumeParams } from "../client/server_client.ts";
import type { CachedEntry } from "./svid_cache.ts";

export function cachedEntry(e: SyncEntryJSON): CachedEntry {
  return {
    id: e.id,
    spiffeID: `spiffe://${e.spiffe_id.trust_domain}${e.spiffe_id.path}`,
    parentID: `spiffe://${e.parent_id.trust_domain}${e.parent_id.path}`,
    selectors: e.selectors,
    x509SVIDTTL: e.x509_svid_ttl,
    dnsNames: e.dns_names ?? [],
    hint: e.hint ?? "",
    revisionNumber: e.revision_number,
    createdAt: e.created_at,
    federatesWith: e.federates_with ?? [],
  };
}

export interface AppliedSync {
  /** False when the digest differs from the server's: the copy is reset and the next connect asks for a snapshot. */
  ok: boolean;
  /** The versions replaced or removed by this message, by ID. */
  before: Map<string, CachedEntry>;
  /** The versions added or replaced by this message, by ID. */
  after: Map<string, CachedEntry>;
  /** Whether any federated bundle was added, replaced or dropped. */
  federatedChanged: boolean;
}

export class SyncedEntries {
  readonly entries = new Map<string, CachedEntry>();
  /** Federated bundles by trust domain name, as the server sent them. */
  readonly federated = new Map<string, SyncFederatedBundleJSON>();
  #digest = new EntrySetDigest();
  /** Entry IDs by their first selector ("" for none), so a workload's lookup reads its candidates, not every entry. */
  #byFirstSelector = new Map<string, Set<string>>();
  /** The server's cursor after the last message applied; undefined before the first and after a mismatch. */
  #cursor: number | undefined;

  /** What to send on reconnect; undefined asks for a full snapshot. */
  resume(bundleSequence: number): SyncResumeParams | undefined {
    if (this.#cursor === undefined) return undefined;
    const federated = new Map([...this.federated].map(([td, b]) => [td, bundleDigest(b)]));
    return { since: this.#cursor, digest: this.#digest.hex(), bundleSequence, federated };
  }

  get cursor(): number | undefined {
    return this.#cursor;
  }

  /**
   * The entries whose first selector is among the workload's selectors: every entry whose selectors the workload
   * has is among them (callers still check the rest).
   */
  candidates(selectors: readonly { type: string; value: string }[]): CachedEntry[] {
    const out: CachedEntry[] = [];
    for (const k of new Set(["", ...selectors.map(selectorKey)])) {
      for (const id of this.#byFirstSelector.get(k) ?? []) {
        const e = this.entries.get(id);
        if (e) out.push(e);
      }
    }
    return out;
  }

  #index(e: CachedEntry): void {
    const k = e.selectors[0] ? selectorKey(e.selectors[0]) : "";
    let ids = this.#byFirstSelector.get(k);
    if (!ids) this.#byFirstSelector.set(k, ids = new Set());
    ids.add(e.id);
  }

  #unindex(e: CachedEntry): void {
    const k = e.selectors[0] ? selectorKey(e.selectors[0]) : "";
    const ids = this.#byFirstSelector.get(k);
    ids?.delete(e.id);
    if (ids?.size === 0) this.#byFirstSelector.delete(k);
  }

  apply(m: SyncMessage): AppliedSync {
    const before = new Map<string, CachedEntry>();
    const after = new Map<string, CachedEntry>();
    const federatedChanged = this.#applyFederated(m);
    if (m.kind === "snapshot") {
      for (const [id, e] of this.entries) before.set(id, e);
      this.entries.clear();
      this.#byFirstSelector.clear();
      this.#digest = new EntrySetDigest();
      for (const j of m.body.entries) this.#put(cachedEntry(j), after);
    } else {
      for (const id of m.body.deletes) {
        const e = this.entries.get(id);
        if (!e) continue;
        before.set(id, e);
        this.entries.delete(id);
        this.#unindex(e);
        this.#digest.toggle(id, e.revisionNumber);
      }
      for (const j of m.body.upserts) {
        const old = this.entries.get(j.id);
        if (old) before.set(j.id, old);
        this.#put(cachedEntry(j), after);
      }
    }
    const digest = m.body.digest;
    if (digest !== undefined && digest !== this.#digest.hex()) {
      this.#cursor = undefined;
      return { ok: false, before, after, federatedChanged };
    }
    this.#cursor = m.body.revision;
    return { ok: true, before, after, federatedChanged };
  }

  #applyFederated(m: SyncMessage): boolean {
    let changed = false;
    const put = (td: string, b: SyncFederatedBundleJSON) => {
      const old = this.federated.get(td);
      if (!old || JSON.stringify(old) !== JSON.stringify(b)) changed = true;
      this.federated.set(td, b);
    };
    const drop = (td: string) => {
      if (this.federated.delete(td)) changed = true;
    };
    if (m.kind === "snapshot") {
      const next = m.body.federated_bundles ?? {};
      for (const td of [...this.federated.keys()]) if (!(td in next)) drop(td);
      for (const [td, b] of Object.entries(next)) put(td, b);
    } else {
      for (const td of m.body.federated_bundles_removed ?? []) drop(td);
      for (const [td, b] of Object.entries(m.body.federated_bundles ?? {})) put(td, b);
    }
    return changed;
  }

  #put(e: CachedEntry, changed: Map<string, CachedEntry>): void {
    const old = this.entries.get(e.id);
    if (old) {
      this.#digest.toggle(old.id, old.revisionNumber);
      this.#unindex(old);
    }
    this.entries.set(e.id, e);
    this.#index(e);
    this.#digest.toggle(e.id, e.revisionNumber);
    changed.set(e.id, e);
  }
}

const selectorKey = (s: { type: string; value: string }) => `${s.type}:${s.value}`;
