/** SPIRE's cache_manager debug lines for entries that appear, change or go away in a sync (lru_cache.go). @module */
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { CachedEntry } from "./svid_cache.ts";

const key = (s: { type: string; value: string }) => `${s.type}:${s.value}`;

/**
 * Logs "Entry created", "Entry updated" (only when its selectors changed, as SPIRE does) and "Entry removed", each
 * with the entry's ID in `entry` and its SPIFFE ID, at DEBUG.
 */
export function logEntryChanges(log: Logger, before: ReadonlyMap<string, CachedEntry>, after: ReadonlyMap<string, CachedEntry>): void {
  for (const [id, e] of after) {
    const old = before.get(id);
    const now = new Set(e.selectors.map(key));
    if (!old) {
      log.debug("Entry created", { entry: id, [F.SPIFFE_ID]: e.spiffeID, selectors_added: now.size });
      continue;
    }
    const was = new Set(old.selectors.map(key));
    const added = [...now].filter((s) => !was.has(s)).length;
    const removed = [...was].filter((s) => !now.has(s)).length;
    if (added > 0 || removed > 0) {
      log.debug("Entry updated", { entry: id, [F.SPIFFE_ID]: e.spiffeID, selectors_added: added, selectors_removed: removed });
    }
  }
  for (const [id, e] of before) if (!after.has(id)) log.debug("Entry removed", { entry: id, [F.SPIFFE_ID]: e.spiffeID });
}
