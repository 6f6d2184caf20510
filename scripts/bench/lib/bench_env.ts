/** Flags, machine facts, process CPU/RSS readings and the JSON result file shared by the benchmarks. @module */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** Command-line flags of a benchmark: `--name value`, `-name value`, `--name=value`, bare `--flag`. */
export class Flags {
  readonly #args: string[];
  constructor(args: string[] = process.argv.slice(2)) {
    this.#args = args;
  }
  #raw(name: string): string | undefined {
    for (let i = 0; i < this.#args.length; i++) {
      const a = this.#args[i]!.replace(/^--?/, "");
      if (a === name) {
        const v = this.#args[i + 1];
        return v === undefined || v.startsWith("-") ? "true" : v;
      }
      if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
    }
    return undefined;
  }
  bool(name: string): boolean {
    const v = this.#raw(name);
    return v !== undefined && v !== "false";
  }
  num(name: string, dflt: number): number {
    const v = this.#raw(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`invalid --${name} "${v}"`);
    return n;
  }
  list(name: string, dflt: number[]): number[] {
    const v = this.#raw(name);
    if (v === undefined) return dflt;
    return v.split(",").map((x) => {
      const n = Number(x);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`invalid --${name} "${v}"`);
      return n;
    });
  }
  str(name: string, dflt: string): string {
    return this.#raw(name) ?? dflt;
  }
}

/** Resident set size of a process from /proc/<pid>/status, bytes (0 when it is gone). */
export function rssOf(pid: number): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds a process has used so far, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name may contain spaces; fields resume after its closing parenthesis (field 3 onwards).
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/** Samples a process's RSS until stopped; reports peak and last. */
export function pidRSSSampler(pid: number, everyMs = 100): { peak(): number; stop(): { peak: number; last: number } } {
  let peak = rssOf(pid);
  const t = setInterval(() => {
    peak = Math.max(peak, rssOf(pid));
  }, everyMs);
  return {
    peak: () => Math.max(peak, rssOf(pid)),
    stop() {
      clearInterval(t);
      const last = rssOf(pid);
      return { peak: Math.max(peak, last), last };
    },
  };
}

export interface LatencySummary {
  n: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/** p50/p99/max/mean of a list of latencies in ms. */
export function summarize(latMs: number[]): LatencySummary {
  const s = [...latMs].sort((a, b) => a - b);
  const at = (p: number) => (s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!);
  return {
    n: s.length,
    p50Ms: at(50),
    p99Ms: at(99),
    maxMs: s.length ? s[s.length - 1]! : 0,
    meanMs: s.length ? s.reduce((a, b) => a + b, 0) / s.length : 0,
  };
}

export const MB = 1048576;
export const mb = (bytes: number): string => (bytes / MB).toFixed(1);

/** Cores, CPU model, kernel and runtime versions of this machine. */
export function machine(): Record<string, string | number> {
  let deno = "unavailable";
  try {
    deno = execFileSync(join(REPO_ROOT, "node_modules", ".bin", "deno"), ["--version"], { encoding: "utf8" }).split("\n")[0]!;
  } catch {
    // Deno is optional for the benchmarks.
  }
  let kernel = "";
  try {
    kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {
    kernel = process.platform;
  }
  // Other work on the machine skews every number; the load average when the result is written says how much.
  return { cores: cpus().length, cpu: cpus()[0]?.model ?? "", kernel, node: process.version, deno, loadavg1m: Number(loadavg()[0]!.toFixed(2)) };
}

/** Writes bench-results/<name>.json (smoke runs: <name>.smoke.json, so they never replace real results). */
export function writeResult(name: string, data: Record<string, unknown>): string {
  const dir = join(REPO_ROOT, "bench-results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}${data.smoke === true ? ".smoke" : ""}.json`);
  writeFileSync(file, JSON.stringify({ benchmark: name, date: new Date().toISOString(), machine: machine(), ...data }, null, 2) + "\n");
  return file;
}

/** A target line for the table: "met" / "MISSED" with the measured value. */
export function verdict(ok: boolean): string {
  return ok ? "met" : "MISSED";
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function log(msg: string): void {
  process.stderr.write(`  ${msg}\n`);
}
