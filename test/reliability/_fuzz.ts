/**
 * Seeded input generation for the fuzz suites: a small PRNG, string/byte/JSON mutators, a per-input timeout and a
 * tally that records every input that broke the rules (a non-ServiceError, an empty message, a 500, a hang).
 * @module
 */
import { ServiceError } from "../../src/core/errors.ts";

/** The seed every fuzz file starts from; set WISP_FUZZ_SEED to replay another run. */
export const FUZZ_SEED = Number(process.env.WISP_FUZZ_SEED ?? 7_301_985);

export class Rand {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** mulberry32 */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

const NASTY_CHARS = [
  "",
  "/",
  "//",
  ":",
  "%",
  "%2F",
  "%00",
  ".",
  "..",
  "\u0000",
  "\n",
  "\r\n",
  " ",
  "\t",
  "#",
  "?",
  "@",
  "[",
  "]",
  '"',
  "'",
  "\\",
  "{",
  "}",
  "=",
  ",",
  "é",
  "\u202e",
  "😀",
  "\uFFFF",
  "\uD800",
  "A".repeat(300),
  "$",
  "${X}",
  "-1",
  "0",
  "99999999999999999999",
  "1e309",
  "NaN",
  "null",
  "true",
];

/** 1 to 4 random edits of `s`: insert, delete, duplicate, replace, truncate or case-flip. */
export function mutateString(r: Rand, s: string): string {
  let out = s;
  for (let k = 1 + r.int(4); k > 0; k--) {
    const i = r.int(out.length + 1);
    switch (r.int(7)) {
      case 0:
        out = out.slice(0, i) + r.pick(NASTY_CHARS) + out.slice(i);
        break;
      case 1:
        out = out.slice(0, i) + out.slice(i + 1 + r.int(4));
        break;
      case 2:
        out = out.slice(0, i) + out.slice(i, i + 1 + r.int(8)).repeat(2 + r.int(3)) + out.slice(i);
        break;
      case 3:
        out = out.slice(0, i) + String.fromCharCode(r.int(0x250)) + out.slice(i + 1);
        break;
      case 4:
        out = out.slice(0, i);
        break;
      case 5:
        out = r.chance(0.5) ? out.toUpperCase() : out.toLowerCase();
        break;
      default:
        out = out.slice(0, i) + r.pick(NASTY_CHARS) + out.slice(i + 1);
    }
  }
  return out;
}

/** 1 to 4 random edits of `b`: flipped, replaced, inserted or removed bytes, or a truncation. */
export function mutateBytes(r: Rand, b: Uint8Array): Uint8Array {
  let out: Uint8Array = Uint8Array.from(b);
  for (let k = 1 + r.int(4); k > 0; k--) {
    const i = r.int(Math.max(out.length, 1));
    switch (r.int(6)) {
      case 0:
        if (out.length) out[i] = out[i]! ^ (1 << r.int(8));
        break;
      case 1:
        if (out.length) out[i] = r.pick([0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0xff]);
        break;
      case 2:
        out = Uint8Array.from([...out.subarray(0, i), ...r.bytes(1 + r.int(8)), ...out.subarray(i)]);
        break;
      case 3:
        out = Uint8Array.from([...out.subarray(0, i), ...out.subarray(i + 1 + r.int(16))]);
        break;
      case 4:
        out = out.subarray(0, i);
        break;
      default:
        out = r.bytes(r.int(64));
    }
  }
  return out;
}

/** A random JSON value: keys from `vocab`, leaves from valid-looking `samples` or random junk, `depth` levels deep. */
export function randomJSON(r: Rand, vocab: readonly string[], samples: readonly unknown[], depth = 3): unknown {
  const leaf = (): unknown => {
    switch (r.int(8)) {
      case 0:
        return null;
      case 1:
        return r.chance(0.5);
      case 2:
        return r.pick([0, -1, 1, 1.5, 2 ** 53, -(2 ** 31), 1e308, 600, 86400]);
      case 3:
        return mutateString(r, String(r.pick(samples)));
      case 4:
        return "";
      default:
        return r.pick(samples);
    }
  };
  if (depth <= 0 || r.chance(0.3)) return leaf();
  if (r.chance(0.25)) return Array.from({ length: r.int(4) }, () => randomJSON(r, vocab, samples, depth - 1));
  const o: Record<string, unknown> = {};
  for (let n = r.int(5); n > 0; n--) o[r.chance(0.9) ? r.pick(vocab) : mutateString(r, r.pick(vocab))] = randomJSON(r, vocab, samples, depth - 1);
  return o;
}

/** Counts per target, and the inputs that broke a rule (kept short for the report). */
export class Tally {
  readonly counts = new Map<string, number>();
  readonly failures: string[] = [];

  async run<T>(target: string, input: unknown, fn: () => Promise<T> | T, check?: (v: T) => string | undefined, timeoutMs = 3000): Promise<void> {
    this.counts.set(target, (this.counts.get(target) ?? 0) + 1);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const v = await Promise.race([
        Promise.resolve().then(fn),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new HangError()), timeoutMs))),
      ]);
      const problem = check?.(v);
      if (problem) this.fail(target, input, problem);
    } catch (err) {
      if (err instanceof HangError) this.fail(target, input, `no answer within ${timeoutMs} ms`);
      else if (!(err instanceof ServiceError)) this.fail(target, input, `${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
      else if (!err.message) this.fail(target, input, `${err.constructor.name} without a message`);
    } finally {
      clearTimeout(timer);
    }
  }

  fail(target: string, input: unknown, problem: string): void {
    if (this.failures.length < 20) {
      this.failures.push(
        `${target}: ${problem} for input ${JSON.stringify(input, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString("base64") : v))?.slice(0, 300)}`,
      );
    } else this.failures.length === 20 && this.failures.push("…");
  }

  total(): number {
    return [...this.counts.values()].reduce((a, b) => a + b, 0);
  }

  summary(): string {
    return [...this.counts].map(([k, v]) => `${k} ${v}`).join(", ");
  }
}

class HangError extends Error {}
