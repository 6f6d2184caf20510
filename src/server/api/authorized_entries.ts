/** Which entries an agent may see: its descendants through parent links, as SPIRE's entry crawl. @module */
import type { DataStore, RegistrationEntry } from "../datastore/datastore.ts";

/** Entries grouped by parent ID, so each agent's crawl is a walk in memory instead of one query per ID. */
export class EntryIndex {
  #byParent = new Map<string, RegistrationEntry[]>();

  constructor(entries: readonly RegistrationEntry[]) {
    for (const e of entries) {
      const list = this.#byParent.get(e.parentID);
      if (list) list.push(e);
      else this.#byParent.set(e.parentID, [e]);
    }
  }

  /** Walks parent→child links from the agent's ID; a visited set stops cycles an admin may have created. */
  descendants(agentID: string): RegistrationEntry[] {
    const out: RegistrationEntry[] = [];
    const seen = new Set<string>([agentID]);
    const stack = [agentID];
    while (stack.length > 0) {
      for (const e of this.#byParent.get(stack.pop()!) ?? []) {
        out.push(e);
        if (!seen.has(e.spiffeID)) {
          seen.add(e.spiffeID);
          stack.push(e.spiffeID);
        }
      }
    }
    return out;
  }
}

/** One agent's entries straight from the datastore (one query per reachable ID), for callers without an index. */
export async function authorizedEntries(ds: DataStore, agentID: string): Promise<RegistrationEntry[]> {
  const out: RegistrationEntry[] = [];
  const seen = new Set<string>([agentID]);
  let frontier = [agentID];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const parent of frontier) {
      for (const e of await ds.listEntries({ parentID: parent })) {
        out.push(e);
        if (!seen.has(e.spiffeID)) {
          seen.add(e.spiffeID);
          next.push(e.spiffeID);
        }
      }
    }
    frontier = next;
  }
  return out;
}
