/** Go duration strings ("1h30m", "500ms") to and from milliseconds. @module */
import { InvalidArgumentError } from "../errors.ts";
import type { ConfigStatus } from "./status.ts";

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a duration in Go's `time.ParseDuration` grammar and returns milliseconds. Texts follow Go's, without
 * the "time: " prefix.
 *
 * @example parseDuration("1h30m") === 5_400_000
 * @throws {InvalidArgumentError}
 */
export function parseDuration(s: string): number {
  const orig = s;
  let neg = false;
  if (s[0] === "-" || s[0] === "+") {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  // Go accepts a bare "0" (no unit) and nothing else without a unit.
  if (s === "0") return 0;
  if (s === "") throw new InvalidArgumentError(`invalid duration "${orig}"`);
  let total = 0;
  while (s !== "") {
    const num = /^(\d*)(\.\d*)?/.exec(s)!;
    const intPart = num[1] ?? "";
    const fracPart = num[2] ?? "";
    if (intPart === "" && fracPart.length <= 1) throw new InvalidArgumentError(`invalid duration "${orig}"`);
    s = s.slice(num[0].length);
    const unit = /^[^\d.]*/.exec(s)![0];
    if (unit === "") throw new InvalidArgumentError(`missing unit in duration "${orig}"`);
    const scale = UNIT_MS[unit];
    if (scale === undefined) throw new InvalidArgumentError(`unknown unit "${unit}" in duration "${orig}"`);
    s = s.slice(unit.length);
    total += Number(`${intPart || "0"}${fracPart === "." ? "" : fracPart}`) * scale;
  }
  if (!Number.isFinite(total) || total > 9_223_372_036_854) {
    throw new InvalidArgumentError(`invalid duration "${orig}"`);
  }
  return neg ? -total : total;
}

/**
 * Formats milliseconds the way Go's `Duration.String` does ("1h0m0s", "5m0s", "500ms"), so help texts and notes
 * read like SPIRE's.
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  const sign = ms < 0 ? "-" : "";
  let abs = Math.abs(ms);
  if (abs < 1000) {
    if (abs >= 1) return `${sign}${trimFloat(abs)}ms`;
    if (abs >= 1e-3) return `${sign}${trimFloat(abs * 1e3)}µs`;
    return `${sign}${trimFloat(abs * 1e6)}ns`;
  }
  const h = Math.floor(abs / 3_600_000);
  abs -= h * 3_600_000;
  const m = Math.floor(abs / 60_000);
  abs -= m * 60_000;
  const sec = `${trimFloat(abs / 1000)}s`;
  if (h > 0) return `${sign}${h}h${m}m${sec}`;
  if (m > 0) return `${sign}${m}m${sec}`;
  return sign + sec;
}

function trimFloat(n: number): string {
  return String(Number(n.toFixed(9)));
}

/**
 * Reads a duration-valued config key: a Go duration string, or a bare number of seconds. Reports a problem naming
 * the key and returns undefined when the value is unusable.
 */
export function durationFromConfig(key: string, value: unknown, status: ConfigStatus): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "number") {
    if (Number.isFinite(value)) return value * 1000;
  } else if (typeof value === "string") {
    try {
      return parseDuration(value);
    } catch (err) {
      status.error(`${key}: ${(err as Error).message}`);
      return undefined;
    }
  }
  status.error(`${key} must be a duration such as "1h" or "30m"`);
  return undefined;
}
