/** Which entries an agent may see: its descendants through parent links, as SPIRE's entry crawl. @module */
import type { DataStore, RegistrationEntry } from "../datastore/datastore.ts";

/** Walks parent→child links from the agent's ID; a visited set stops cycles an admin may have created. */
export async function authorizedEntries(ds: DataStore, agentID: string): Promise<RegistrationEntry[]> {
  const out: RegistrationEntry[] = [];
  const seenIDs = new Set<string>([agentID]);
  const seenEntries = new Set<string>();
  let frontier = [agentID];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const parent of frontier) {
      for (const e of await ds.listEntries({ parentID: parent })) {
        if (seenEntries.has(e.id)) continue;
        seenEntries.add(e.id);
        out.push(e);
        if (!seenIDs.has(e.spiffeID)) {
          seenIDs.add(e.spiffeID);
          next.push(e.spiffeID);
        }
      }
    }
    frontier = next;
  }
  return out;
}
