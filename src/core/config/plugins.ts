/** Reads a normalised `plugins` block against the plugin types and names a binary supports. @module */
import type { PluginDecl } from "./normalize.ts";
import { ConfigSection, isPlainObject } from "./section.ts";
import type { ConfigStatus } from "./status.ts";

/** What one plugin type accepts. */
export interface PluginTypeRule {
  /** Supported implementation names, e.g. ["memory", "disk"]. */
  names: readonly string[];
  /** At most one enabled declaration (SPIRE's DataStore, KeyManager, UpstreamAuthority). */
  single: boolean;
}

/** An enabled plugin declaration whose `plugin_data` is ready to be read. */
export interface SelectedPlugin {
  name: string;
  data: ConfigSection;
}

// Keys a plugin declaration may carry besides plugin_data; `name` is added by normalisation.
const DECL_KEYS = new Set(["name", "plugin_data", "enabled"]);

/**
 * Checks the plugins block against `rules` and returns the enabled declarations per type. Reports unknown types and
 * names, unknown keys in a declaration, `enabled` that is not a boolean, and more than one plugin where only one is
 * allowed. Callers read each `data` section and call its `finish()` to report unknown plugin_data keys.
 */
export function readPlugins(
  raw: unknown,
  options: { rules: Readonly<Record<string, PluginTypeRule>>; status: ConfigStatus },
): Record<string, SelectedPlugin[]> {
  const { rules, status } = options;
  const out: Record<string, SelectedPlugin[]> = {};
  if (raw === undefined || raw === null) return out;
  if (!isPlainObject(raw) || !Object.values(raw).every((v) => Array.isArray(v) && v.every(isDecl))) {
    status.error(`plugins must be a block of Type "name" { plugin_data { ... } } declarations`);
    return out;
  }
  const supportedTypes = Object.keys(rules).join(", ");
  for (const [type, decls] of Object.entries(raw as Record<string, PluginDecl[]>)) {
    const rule = rules[type];
    if (!rule) {
      status.error(`unknown plugin type "${type}" (supported: ${supportedTypes})`);
      continue;
    }
    const seen = new Set<string>();
    for (const decl of decls) {
      const path = `plugins.${type}.${decl.name}`;
      if (!rule.names.includes(decl.name)) {
        status.error(`unknown ${type} plugin "${decl.name}" (supported: ${rule.names.join(", ")})`);
        continue;
      }
      if (seen.has(decl.name)) {
        status.error(`${type} plugin "${decl.name}" is declared more than once`);
        continue;
      }
      seen.add(decl.name);
      for (const k of Object.keys(decl)) {
        if (!DECL_KEYS.has(k)) status.error(`unknown configuration key "${path}.${k}"`);
      }
      status.noteRead(`${path}.enabled`);
      if (decl.enabled !== undefined && typeof decl.enabled !== "boolean") {
        status.error(`${path}.enabled must be a boolean`);
      }
      const data = new ConfigSection(`${path}.plugin_data`, decl.plugin_data, status);
      if (decl.enabled === false) continue;
      (out[type] ??= []).push({ name: decl.name, data });
    }
    const enabled = out[type] ?? [];
    if (rule.single && enabled.length > 1) {
      const names = enabled.map((p) => `"${p.name}"`).join(", ");
      status.error(`only one ${type} plugin can be configured, got ${enabled.length} (${names})`);
    }
  }
  return out;
}

function isDecl(v: unknown): v is PluginDecl {
  return isPlainObject(v) && typeof v["name"] === "string";
}
