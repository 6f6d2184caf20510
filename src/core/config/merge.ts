/** Command-line overrides written over a config file's block before validation (flags win). @module */
import { isPlainObject } from "./section.ts";

/**
 * Returns a copy of `doc` whose `block` has each given flag value written under its config key, so flag values are
 * validated with the same rules and messages as file values. Undefined and empty-string values count as "not
 * given". A block that is not a single block is left as it is for the builder to report.
 *
 * @example mergeOverrides(doc, { block: "server", values: { trustDomain: "a.org" }, keys: { trustDomain: "trust_domain" } })
 */
export function mergeOverrides(
  doc: unknown,
  options: { block: string; values: Readonly<Record<string, unknown>>; keys: Readonly<Record<string, string>> },
): unknown {
  if (doc !== undefined && !isPlainObject(doc)) return doc;
  const { block, values, keys } = options;
  const current = doc?.[block];
  if (current !== undefined && current !== null && !isPlainObject(current)) return doc;
  const merged: Record<string, unknown> = { ...current };
  let changed = false;
  for (const [flag, key] of Object.entries(keys)) {
    const v = values[flag];
    if (v === undefined || v === "") continue;
    merged[key] = v;
    changed = true;
  }
  if (!changed) return doc ?? {};
  return { ...doc, [block]: merged };
}
