/** ConfigSection: typed, key-tracking reads from one block of a parsed config file. @module */
import { durationFromConfig } from "./duration.ts";
import type { ConfigStatus } from "./status.ts";

/** Bounds for integer keys. */
export interface IntRange {
  min?: number;
  max?: number;
}

/** True for a plain `{...}` object (not an array, not null). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Reads the keys of one config block with type checks, reporting every problem to a ConfigStatus under the key's
 * dotted name ("server.bind_port"). Keys never read are reported by `finish()` as unknown, which is SPIRE's
 * `checkForUnknownConfig` done without reflection.
 */
export class ConfigSection {
  readonly path: string;
  readonly #obj: Record<string, unknown>;
  readonly #status: ConfigStatus;
  readonly #read = new Set<string>();
  readonly #children: ConfigSection[] = [];

  /** Wraps `value`; anything but a block (or nothing) is reported and treated as an empty block. */
  constructor(path: string, value: unknown, status: ConfigStatus) {
    this.path = path;
    this.#status = status;
    if (value === undefined || value === null) this.#obj = {};
    else if (isPlainObject(value)) this.#obj = value;
    else {
      status.error(Array.isArray(value) ? `${path} must be declared once` : `${path} must be a block`);
      this.#obj = {};
    }
  }

  /** The dotted name of `key` in this block. */
  key(key: string): string {
    return this.path === "" ? key : `${this.path}.${key}`;
  }

  /** Whether the key is present (null counts as absent, as JSON files use it for "unset"). */
  has(key: string): boolean {
    const v = this.#obj[key];
    return v !== undefined && v !== null;
  }

  /** The raw value, marking the key as known. */
  raw(key: string): unknown {
    this.#read.add(key);
    this.#status.noteRead(this.key(key));
    const v = this.#obj[key];
    return v === null ? undefined : v;
  }

  /** Keys present in this block, in file order. */
  keys(): string[] {
    return Object.keys(this.#obj);
  }

  string(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined || typeof v === "string") return v;
    this.#status.error(`${this.key(key)} must be a string`);
    return undefined;
  }

  bool(key: string): boolean | undefined {
    const v = this.raw(key);
    if (v === undefined || typeof v === "boolean") return v;
    if (v === "true" || v === "false") return v === "true";
    this.#status.error(`${this.key(key)} must be a boolean`);
    return undefined;
  }

  /** An integer, given as a number or a numeric string (SPIRE accepts `bind_port = "8081"`). */
  int(key: string, range: IntRange = {}): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const n = typeof v === "number" ? v : typeof v === "string" && /^[-+]?\d+$/.test(v.trim()) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) {
      this.#status.error(`${this.key(key)} must be an integer`);
      return undefined;
    }
    const { min, max } = range;
    if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
      const bounds = max === undefined ? `at least ${min}` : min === undefined ? `at most ${max}` : `between ${min} and ${max}`;
      this.#status.error(`${this.key(key)} must be ${bounds}, got ${n}`);
      return undefined;
    }
    return n;
  }

  /** A duration in milliseconds: a Go duration string or a bare number of seconds. */
  duration(key: string): number | undefined {
    return durationFromConfig(this.key(key), this.raw(key), this.#status);
  }

  /** A list of strings; a single string is accepted as a list of one. */
  stringList(key: string): string[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v === "string") return [v];
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
    this.#status.error(`${this.key(key)} must be a list of strings`);
    return undefined;
  }

  /** A nested block; absent gives an empty block. Its unknown keys are reported by this block's `finish()`. */
  section(key: string): ConfigSection {
    const child = new ConfigSection(this.key(key), this.raw(key), this.#status);
    this.#children.push(child);
    return child;
  }

  /** Reports every key of this block and its nested blocks that no reader asked for. */
  finish(): void {
    for (const k of Object.keys(this.#obj)) {
      if (!this.#read.has(k)) this.#status.error(`unknown configuration key "${this.key(k)}"`);
    }
    for (const c of this.#children) c.finish();
  }
}
