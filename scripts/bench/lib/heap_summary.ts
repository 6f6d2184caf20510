/**
 * Top constructors of a V8 heap snapshot by self size and count: what an agent holding many streams keeps per
 * stream. Divide a row's count by the number of streams to get objects per stream.
 * Usage: node --import tsx scripts/bench/lib/heap_summary.ts <file.heapsnapshot> [top=40]
 * @module
 */
import { readFileSync } from "node:fs";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

function main(): void {
  const [file, topArg] = process.argv.slice(2);
  if (!file) throw new Error("usage: heap_summary.ts <file.heapsnapshot> [top]");
  const s = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf("type");
  const iName = fields.indexOf("name");
  const iSize = fields.indexOf("self_size");
  const by = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType]!]!;
    const name = s.strings[s.nodes[i + iName]!]!;
    const size = s.nodes[i + iSize]!;
    total += size;
    // Objects and closures by their constructor or function name; strings, code and arrays by their kind.
    const key = type === "object" || type === "closure" ? `${type} ${name}` : `(${type})`;
    const e = by.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += size;
    by.set(key, e);
  }
  const top = [...by.entries()].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(topArg ?? 40));
  process.stdout.write(`total self size ${(total / 1048576).toFixed(1)} MB in ${s.nodes.length / width} nodes\n`);
  for (const [k, v] of top) {
    process.stdout.write(`${(v.bytes / 1048576).toFixed(2).padStart(8)} MB ${String(v.count).padStart(9)}  ${k.slice(0, 100)}\n`);
  }
}

main();
