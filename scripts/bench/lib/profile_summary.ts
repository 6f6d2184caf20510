/**
 * Summarises a V8 .cpuprofile (from node --cpu-prof): top functions by self time and by inclusive time, with their
 * file:line, as a share of all samples. Usage: node --import tsx scripts/bench/lib/profile_summary.ts <file> [top]
 * @module
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  selfPct: number;
  totalPct: number;
}

/** Self and inclusive shares per function (name + url + line), busiest first by self time. */
export function summarizeProfile(p: Profile): ProfileRow[] {
  const byID = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n: ProfileNode) => {
    const url = n.callFrame.url.replace(/^file:\/\//, "").replace(/.*\/(src|node_modules|scripts)\//, "$1/");
    return `${n.callFrame.functionName || "(anonymous)"} ${url}:${n.callFrame.lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    all += dt;
    const n = byID.get(id)!;
    self.set(key(n), (self.get(key(n)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = key(byID.get(cur)!);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + dt);
    }
  });
  return [...total.keys()].map((k) => ({ name: k, selfPct: (100 * (self.get(k) ?? 0)) / all, totalPct: (100 * total.get(k)!) / all }))
    .sort((a, b) => b.selfPct - a.selfPct);
}

function main(): void {
  const [file, top] = process.argv.slice(2);
  if (!file) throw new Error("usage: profile_summary.ts <file.cpuprofile> [top]");
  const rows = summarizeProfile(JSON.parse(readFileSync(file, "utf8")) as Profile);
  const n = Number(top ?? 25);
  console.log("by self time:");
  for (const r of rows.slice(0, n)) console.log(`  ${r.selfPct.toFixed(1).padStart(5)}%  (incl ${r.totalPct.toFixed(1).padStart(5)}%)  ${r.name}`);
  console.log("by inclusive time (wisp code):");
  for (const r of [...rows].filter((r) => r.name.includes(" src/")).sort((a, b) => b.totalPct - a.totalPct).slice(0, n)) {
    console.log(`  ${r.totalPct.toFixed(1).padStart(5)}%  (self ${r.selfPct.toFixed(1).padStart(5)}%)  ${r.name}`);
  }
}

if (process.argv[1]?.endsWith("profile_summary.ts")) main();
