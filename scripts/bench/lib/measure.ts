/** Throughput and latency measurement helpers shared by the benchmarks. @module */

export interface RateResult {
  ops: number;
  seconds: number;
  perSec: number;
  p50Ms?: number;
  p99Ms?: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Runs `op` from `concurrency` workers for `seconds` and reports ops/s. With `latency`, each op is timed
 * and p50/p99 are reported (adds two performance.now() calls per op).
 */
export async function measureRate(
  seconds: number,
  concurrency: number,
  op: (i: number) => Promise<unknown>,
  latency = false,
): Promise<RateResult> {
  const lat: number[] = [];
  let n = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const i = n++;
      if (latency) {
        const t = performance.now();
        await op(i);
        lat.push(performance.now() - t);
      } else await op(i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - start) / 1000;
  const r: RateResult = { ops: n, seconds: elapsed, perSec: n / elapsed };
  if (latency) {
    lat.sort((a, b) => a - b);
    r.p50Ms = percentile(lat, 50);
    r.p99Ms = percentile(lat, 99);
  }
  return r;
}

/** Tracks the peak RSS while a benchmark runs. */
export function rssSampler(read: () => number, everyMs = 50): { stop(): number } {
  let peak = read();
  const t = setInterval(() => {
    peak = Math.max(peak, read());
  }, everyMs);
  return {
    stop() {
      clearInterval(t);
      return Math.max(peak, read());
    },
  };
}

/** Formats a table of rows with right-aligned numeric columns. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => typeof c === "number" ? fmt(c) : c))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? "").length)));
  return cells.map((r, ri) =>
    r.map((c, i) => i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!)).join("  ") +
    (ri === 0 ? "\n" + widths.map((w) => "-".repeat(w)).join("  ") : "")
  ).join("\n");
}

export function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2);
}
