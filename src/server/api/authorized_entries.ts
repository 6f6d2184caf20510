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

/** Entries grouped by parent ID, so each agent's crawl is a walk in memory instead of one query per ID. */
export class EntryIndex {
  #byParent = new Map<string, RegistrationEntry[]>();
  #serverID: string;

  /** `serverID`: the parent of node alias entries, `spiffe://<td>/spire/server`. */
  constructor(entries: readonly RegistrationEntry[], serverID = "") {
    this.#serverID = serverID;
    for (const e of entries) {
      const list = this.#byParent.get(e.parentID);
      if (list) list.push(e);
      else this.#byParent.set(e.parentID, [e]);
    }
  }

  /**
   * Walks parent→child links from the agent's ID and from the node aliases its selectors match; a visited set stops
   * cycles an admin may have created.
   */
  descendants(agentID: string, nodeSelectors: readonly Selector[] = []): RegistrationEntry[] {
    const aliases = this.#serverID === "" ? [] : (this.#byParent.get(this.#serverID) ?? []).filter((e) => isNodeAliasOf(e, nodeSelectors));
    return crawl((p) => this.#byParent.get(p) ?? [], agentID, aliases);
  }
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
