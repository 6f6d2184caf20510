/**
 * Which entries an agent may see, as SPIRE's entry crawl: its descendants through parent links, starting from its own
 * ID and from every node alias it belongs to. A node alias is an entry whose parent is the server ID
 * (`spiffe://<td>/spire/server`) and whose selectors are all among the agent's node selectors.
 * @module
 */
import type { Selector } from "../../core/selector.ts";
import type { DataStore, RegistrationEntry } from "../datastore/datastore.ts";

const key = (s: Selector) => `${s.type}:${s.value}`;

/** True when every selector of the alias entry is among the node's selectors (SPIRE's subset match). */
export function isNodeAliasOf(entry: RegistrationEntry, nodeSelectors: readonly Selector[]): boolean {
  if (entry.selectors.length === 0 || nodeSelectors.length === 0) return false;
  const have = new Set(nodeSelectors.map(key));
  return entry.selectors.every((s) => have.has(key(s)));
}

function crawl(byParent: (parentID: string) => readonly RegistrationEntry[], agentID: string, aliases: RegistrationEntry[]): RegistrationEntry[] {
  const out: RegistrationEntry[] = [...aliases];
  const seen = new Set<string>([agentID, ...aliases.map((a) => a.spiffeID)]);
  const stack = [...seen];
  while (stack.length > 0) {
    for (const e of byParent(stack.pop()!)) {
      out.push(e);
      if (!seen.has(e.spiffeID)) {
        seen.add(e.spiffeID);
        stack.push(e.spiffeID);
      }
    }
  }
  return out;
}

/**
 * Entries grouped by parent ID (downward: an agent's crawl is a walk in memory instead of one query per ID) and by
 * SPIFFE ID (upward: which agents a change reaches). Updated in place as entry events arrive.
 */
export class EntryIndex {
  #byID = new Map<string, RegistrationEntry>();
  #byParent = new Map<string, Map<string, RegistrationEntry>>();
  #bySpiffeID = new Map<string, Map<string, RegistrationEntry>>();
  #serverID: string;

  /** `serverID`: the parent of node alias entries, `spiffe://<td>/spire/server`. */
  constructor(entries: readonly RegistrationEntry[], serverID = "") {
    this.#serverID = serverID;
    for (const e of entries) this.upsert(e);
  }

  get size(): number {
    return this.#byID.size;
  }

  get(id: string): RegistrationEntry | undefined {
    return this.#byID.get(id);
  }

  values(): IterableIterator<RegistrationEntry> {
    return this.#byID.values();
  }

  /** Adds or replaces an entry; returns the version it replaced. */
  upsert(e: RegistrationEntry): RegistrationEntry | undefined {
    const old = this.remove(e.id);
    this.#byID.set(e.id, e);
    add(this.#byParent, e.parentID, e);
    add(this.#bySpiffeID, e.spiffeID, e);
    return old;
  }

  /** Removes an entry; returns it, or undefined when it was not indexed. */
  remove(id: string): RegistrationEntry | undefined {
    const old = this.#byID.get(id);
    if (!old) return undefined;
    this.#byID.delete(id);
    drop(this.#byParent, old.parentID, id);
    drop(this.#bySpiffeID, old.spiffeID, id);
    return old;
  }

  #children(parentID: string): Iterable<RegistrationEntry> {
    return this.#byParent.get(parentID)?.values() ?? [];
  }

  /**
   * Walks parent→child links from the agent's ID and from the node aliases its selectors match; a visited set stops
   * cycles an admin may have created.
   */
  descendants(agentID: string, nodeSelectors: readonly Selector[] = []): RegistrationEntry[] {
    const aliases = this.#serverID === "" ? [] : [...this.#children(this.#serverID)].filter((e) => isNodeAliasOf(e, nodeSelectors));
    return crawl((p) => [...this.#children(p)], agentID, aliases);
  }

  /** The entry and every entry below its SPIFFE ID: what a change to it may add to or remove from an agent. */
  subtree(e: RegistrationEntry): RegistrationEntry[] {
    const out = [e];
    const seen = new Set<string>([e.spiffeID]);
    const stack = [e.spiffeID];
    while (stack.length > 0) {
      for (const c of this.#children(stack.pop()!)) {
        out.push(c);
        if (!seen.has(c.spiffeID)) {
          seen.add(c.spiffeID);
          stack.push(c.spiffeID);
        }
      }
    }
    return out;
  }

  /**
   * Who can reach the entry, walking child→parent links up from its parent: `ids`, the IDs an agent whose own ID is
   * among them reaches it from, and `aliases`, the node alias entries (the entry itself when it is one) whose
   * matching agents reach it. Work is proportional to the entry's ancestry, not to the number of entries or agents.
   */
  reachers(e: RegistrationEntry): { ids: Set<string>; aliases: RegistrationEntry[] } {
    const ids = new Set<string>();
    const aliases: RegistrationEntry[] = [];
    const seenAlias = new Set<string>();
    const visit = (x: RegistrationEntry) => {
      if (this.#serverID !== "" && x.parentID === this.#serverID) {
        if (!seenAlias.has(x.id)) {
          seenAlias.add(x.id);
          aliases.push(x);
        }
      } else if (!ids.has(x.parentID)) {
        ids.add(x.parentID);
        stack.push(x.parentID);
      }
    };
    const stack: string[] = [];
    visit(e);
    while (stack.length > 0) {
      for (const up of this.#bySpiffeID.get(stack.pop()!)?.values() ?? []) visit(up);
    }
    return { ids, aliases };
  }
}

function add(m: Map<string, Map<string, RegistrationEntry>>, k: string, e: RegistrationEntry): void {
  const inner = m.get(k);
  if (inner) inner.set(e.id, e);
  else m.set(k, new Map([[e.id, e]]));
}

function drop(m: Map<string, Map<string, RegistrationEntry>>, k: string, id: string): void {
  const inner = m.get(k);
  if (!inner) return;
  inner.delete(id);
  if (inner.size === 0) m.delete(k);
}

/** One agent's entries straight from the datastore (one query per reachable ID), for callers without an index. */
export async function authorizedEntries(
  ds: DataStore,
  agent: { spiffeID: string; selectors: readonly Selector[]; serverID: string },
): Promise<RegistrationEntry[]> {
  const aliases = (await ds.listEntries({ parentID: agent.serverID })).filter((e) => isNodeAliasOf(e, agent.selectors));
  const all = new Map<string, RegistrationEntry[]>();
  const frontier = [agent.spiffeID, ...aliases.map((a) => a.spiffeID)];
  const seen = new Set(frontier);
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    const children = await ds.listEntries({ parentID: parent });
    all.set(parent, children);
    for (const e of children) {
      if (!seen.has(e.spiffeID)) {
        seen.add(e.spiffeID);
        frontier.push(e.spiffeID);
      }
    }
  }
  return crawl((p) => all.get(p) ?? [], agent.spiffeID, aliases);
}
