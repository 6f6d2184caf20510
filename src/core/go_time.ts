/**
 * The two Go `time` behaviours SPIRE's CLI shows users: `time.Parse` of the `-expiresBefore` layout (with Go's error
 * texts, which SPIRE prints after "date is not valid: ") and `Time.String()` (the "Expiration time" of agents).
 * @module
 */
import { InvalidArgumentError } from "./errors.ts";

/** The layout of SPIRE's `-expiresBefore` flag and ListAgents' `by_expires_before` filter. */
export const EXPIRES_BEFORE_LAYOUT = "2006-01-02 15:04:05 -0700 -07";

type Std = "year" | "zeroMonth" | "zeroDay" | "hour" | "zeroMinute" | "zeroSecond" | "numTZ" | "numShortTZ";

// The layout elements Go recognises in the layouts wisp parses, longest first where one is a prefix of another.
const STD: [string, Std][] = [
  ["2006", "year"],
  ["01", "zeroMonth"],
  ["02", "zeroDay"],
  ["15", "hour"],
  ["04", "zeroMinute"],
  ["05", "zeroSecond"],
  ["-0700", "numTZ"],
  ["-07", "numShortTZ"],
];

/** Go's nextStdChunk, for the elements above: the literal prefix, the element, and the rest of the layout. */
function nextChunk(layout: string): { prefix: string; std?: Std; stdstr: string; suffix: string } {
  for (let i = 0; i < layout.length; i++) {
    for (const [text, std] of STD) {
      if (layout.startsWith(text, i)) return { prefix: layout.slice(0, i), std, stdstr: text, suffix: layout.slice(i + text.length) };
    }
  }
  return { prefix: layout, stdstr: "", suffix: "" };
}

/** Go's time.quote: double quotes, with backslashes before `"` and `\` and \xNN for control and non-ASCII bytes. */
function quote(s: string): string {
  let out = '"';
  for (const b of new TextEncoder().encode(s)) {
    if (b < 0x20 || b >= 0x80) out += `\\x${b.toString(16).padStart(2, "0")}`;
    else {
      const c = String.fromCharCode(b);
      out += c === '"' || c === "\\" ? `\\${c}` : c;
    }
  }
  return out + '"';
}

const isDigit = (s: string, i: number) => i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57;

/** Go's getnum: one or two digits (exactly two when `fixed`). */
function getnum(s: string, fixed: boolean): [number, string] | undefined {
  if (!isDigit(s, 0)) return undefined;
  if (!isDigit(s, 1)) return fixed ? undefined : [Number(s[0]), s.slice(1)];
  return [Number(s.slice(0, 2)), s.slice(2)];
}

/** Go's skip: removes a literal prefix, where a run of spaces in the layout matches any run of spaces. */
function skip(value: string, prefix: string): [string, boolean] {
  while (prefix.length > 0) {
    if (prefix[0] === " ") {
      if (value.length > 0 && value[0] !== " ") return [value, false];
      prefix = prefix.replace(/^ +/, "");
      value = value.replace(/^ +/, "");
      continue;
    }
    if (value.length === 0 || value[0] !== prefix[0]) return [value, false];
    prefix = prefix.slice(1);
    value = value.slice(1);
  }
  return [value, true];
}

function daysIn(month: number, year: number): number {
  if (month === 2) return (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Parses `value` as Go's `time.Parse(layout, value)` does, for layouts built from 2006 01 02 15 04 05 -0700 -07 and
 * literal text (SPIRE's `EXPIRES_BEFORE_LAYOUT`), including fractional seconds after the seconds.
 *
 * @example parseGoTime(EXPIRES_BEFORE_LAYOUT, "2026-12-06 20:00:00 +0100 +01") // 19:00:00Z
 * @throws {InvalidArgumentError} with Go's text, e.g. `parsing time "2001-13-05": month out of range` or
 *   `parsing time "2001-01-05" as "2006-01-02 15:04:05 -0700 -07": cannot parse "" as " "`
 */
export function parseGoTime(layout: string, value: string): Date {
  const alayout = layout, avalue = value;
  const cannot = (layoutElem: string, valueElem: string) =>
    new InvalidArgumentError(`parsing time ${quote(avalue)} as ${quote(alayout)}: cannot parse ${quote(valueElem)} as ${quote(layoutElem)}`);
  const failed = (message: string) => new InvalidArgumentError(`parsing time ${quote(avalue)}${message}`);
  let year = 0, month = -1, day = -1, hour = 0, min = 0, sec = 0, nsec = 0;
  let zoneOffset: number | undefined;
  for (;;) {
    const { prefix, std, stdstr, suffix } = nextChunk(layout);
    const [rest, ok] = skip(value, prefix);
    value = rest;
    if (!ok) throw cannot(prefix, value);
    if (std === undefined) {
      if (value.length !== 0) throw failed(`: extra text: ${quote(value)}`);
      break;
    }
    layout = suffix;
    const hold = value;
    let bad = false;
    let range = "";
    switch (std) {
      case "year": {
        if (value.length < 4 || !isDigit(value, 0) || !/^\d{4}$/.test(value.slice(0, 4))) {
          bad = true;
          break;
        }
        year = Number(value.slice(0, 4));
        value = value.slice(4);
        break;
      }
      case "zeroMonth":
      case "zeroDay":
      case "hour":
      case "zeroMinute":
      case "zeroSecond": {
        const r = getnum(value, std !== "hour");
        if (!r) {
          bad = true;
          break;
        }
        value = r[1];
        const n = r[0];
        if (std === "zeroMonth") {
          month = n;
          if (n <= 0 || n > 12) range = "month";
        } else if (std === "zeroDay") day = n;
        else if (std === "hour") {
          hour = n;
          if (n >= 24) range = "hour";
        } else if (std === "zeroMinute") {
          min = n;
          if (n >= 60) range = "minute";
        } else {
          sec = n;
          if (n >= 60) {
            range = "second";
            break;
          }
          // A fractional second in the value that the layout does not have is accepted, as in Go.
          if (value.length >= 2 && (value[0] === "." || value[0] === ",") && isDigit(value, 1)) {
            let n2 = 2;
            while (n2 < value.length && isDigit(value, n2)) n2++;
            const digits = value.slice(1, Math.min(n2, 10));
            nsec = Number(digits) * 10 ** (9 - digits.length);
            value = value.slice(n2);
          }
        }
        break;
      }
      case "numTZ":
      case "numShortTZ": {
        const need = std === "numTZ" ? 5 : 3;
        if (value.length < need) {
          bad = true;
          break;
        }
        const sign = value[0]!;
        const hr = getnum(value.slice(1, 3), true);
        const mm = std === "numTZ" ? getnum(value.slice(3, 5), true) : [0, ""] as [number, string];
        value = value.slice(need);
        if (!hr || !mm) {
          bad = true;
          break;
        }
        if (hr[0] > 24) range = "time zone offset hour";
        if (mm[0] > 60) range = "time zone offset minute";
        zoneOffset = (hr[0] * 60 + mm[0]) * 60;
        if (sign === "-") zoneOffset = -zoneOffset;
        else if (sign !== "+") bad = true;
        break;
      }
    }
    if (range !== "") throw failed(`: ${range} out of range`);
    if (bad) throw cannot(stdstr, hold);
  }
  if (month < 0) month = 1;
  if (day < 0) day = 1;
  if (day < 1 || day > daysIn(month, year)) throw failed(": day out of range");
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, min, sec, Math.floor(nsec / 1e6));
  return new Date(d.getTime() - (zoneOffset ?? 0) * 1000);
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** The zone abbreviation Go would print: tzdata's name where Intl knows one, else Go's numeric form (+03, +0530). */
function zoneName(d: Date, offsetMin: number): string {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (offsetMin === 0 && (zone === "UTC" || zone === "Etc/UTC" || zone === "Etc/GMT" || zone === "GMT")) return "UTC";
  // en-US names American zones (EST), en-GB European ones (CET); others come back as "GMT+5:30".
  for (const locale of ["en-US", "en-GB"]) {
    const short = new Intl.DateTimeFormat(locale, { timeZoneName: "short" }).formatToParts(d).find((p) => p.type === "timeZoneName")?.value ?? "";
    if (/^[A-Z]{3,5}$/.test(short) && !short.startsWith("GMT")) return short;
  }
  const sign = offsetMin < 0 ? "-" : "+";
  const abs = Math.abs(offsetMin);
  return `${sign}${pad(Math.floor(abs / 60))}${abs % 60 === 0 ? "" : pad(abs % 60)}`;
}

/**
 * Go's `time.Unix(sec, 0).String()` in the process's local zone, as SPIRE prints agents' expiration times:
 * "2026-12-06 20:19:41 +0000 UTC".
 */
export function formatGoTime(d: Date): string {
  const offsetMin = -d.getTimezoneOffset();
  const abs = Math.abs(offsetMin);
  const offset = `${offsetMin < 0 ? "-" : "+"}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
  const date = `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${date} ${time} ${offset} ${zoneName(d, offsetMin)}`;
}
