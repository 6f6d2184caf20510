/** Turns the block-as-array shape of HCL v1's JSON form into plain nested objects and plugin lists. @module */
import { isPlainObject } from "./section.ts";

/** One plugin declaration: `Type "name" { plugin_data {...} enabled = false }`. */
export interface PluginDecl {
  name: string;
  plugin_data: unknown;
  enabled?: unknown;
  [key: string]: unknown;
}

/** Plugins grouped by type, in file order: `{ KeyManager: [{ name: "disk", plugin_data: {...} }] }`. */
export type PluginDecls = Record<string, PluginDecl[]>;

/**
 * Normalises a parsed config document. HCL v1 decodes every block as an array of objects, so a block declared once
 * is unwrapped to its object, while a block declared twice stays an array (the builders report it). The top-level
 * `plugins` block becomes a PluginDecls map. JSON documents already in plain shape pass through unchanged.
 */
export function normalizeConfigTree(doc: unknown): Record<string, unknown> {
  if (!isPlainObject(doc)) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) out[k] = k === "plugins" ? normalizePlugins(v) : normalizeValue(v);
  return out;
}

function normalizeValue(v: unknown): unknown {
  if (Array.isArray(v)) {
    if (v.length > 0 && v.every(isPlainObject)) {
      const items = v.map(normalizeValue);
      return items.length === 1 ? items[0] : items;
    }
    return v.map(normalizeValue);
  }
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = normalizeValue(x);
    return out;
  }
  return v;
}

/** Blocks declared once come as one object in JSON files and as a one-element array from HCL. */
function asList(v: unknown): unknown[] | undefined {
  if (Array.isArray(v)) return v;
  if (isPlainObject(v)) return [v];
  return undefined;
}

/**
 * Accepts `plugins` in HCL's shape ([{Type: [{name: [body]}]}]) or in JSON's (`{Type: {name: body}}` or
 * `{Type: [{name: body}]}`); several `plugins` blocks are merged. A shape that is neither is returned untouched so
 * the builder can report it.
 */
function normalizePlugins(v: unknown): unknown {
  const blocks = asList(v);
  if (!blocks || !blocks.every(isPlainObject)) return v;
  const out: PluginDecls = {};
  for (const block of blocks) {
    for (const [type, decls] of Object.entries(block)) {
      const list = asList(decls);
      if (!list || !list.every(isPlainObject)) return v;
      for (const decl of list) {
        for (const [name, body] of Object.entries(decl)) {
          const bodies = body === null ? [{}] : asList(body);
          if (!bodies || !bodies.every(isPlainObject)) return v;
          for (const b of bodies) {
            const n = normalizeValue(b) as Record<string, unknown>;
            (out[type] ??= []).push({ ...n, name, plugin_data: n["plugin_data"] ?? {} });
          }
        }
      }
    }
  }
  return out;
}
