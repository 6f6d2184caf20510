/** Small text formatters shared by the console's pages. @module */
import type { Selector } from "../../core/selector.ts";
import type { SubjectFields } from "../../core/x509/names.ts";

/** "2026-12-06 21:09:14Z": ISO to the second, readable in a table. */
export function fmtTime(d: Date | number | undefined): string {
  if (d === undefined) return "—";
  const date = typeof d === "number" ? new Date(d) : d;
  if (Number.isNaN(date.getTime())) return "—";
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** "3d4h", "5h12m", "12m", "40s", signed: "-12m" is in the past. */
export function fmtDuration(ms: number): string {
  const sign = ms < 0 ? "-" : "";
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${sign}${d}d${h}h`;
  if (h > 0) return `${sign}${h}h${m}m`;
  if (m > 0) return `${sign}${m}m`;
  return `${sign}${s}s`;
}

export function fmtSubject(s: SubjectFields): string {
  const parts: string[] = [];
  if (s.CN) parts.push(`CN=${s.CN}`);
  if (s.OU) parts.push(`OU=${s.OU}`);
  if (s.O) parts.push(`O=${s.O}`);
  if (s.C) parts.push(`C=${s.C}`);
  if (s.serialNumber) parts.push(`serialNumber=${s.serialNumber}`);
  return parts.join(", ") || "(empty subject)";
}

export function fmtSelector(s: Selector): string {
  return `${s.type}:${s.value}`;
}

/** "AB:CD:…" in groups, for serials and fingerprints. */
export function colonHex(hex: string): string {
  return hex.toUpperCase().match(/.{1,2}/g)?.join(":") ?? "";
}
