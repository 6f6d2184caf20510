/**
 * `npm run bench -- <name> [flags]`: runs one benchmark from scripts/bench/<name>.ts in this process.
 * Each benchmark prints a table with ratios taken in the same run and writes JSON to bench-results/.
 */
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here).filter((f) => f.endsWith(".ts") && f !== "run.ts").map((f) => f.slice(0, -3)).sort();
const [name, ...rest] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <name> [flags]\navailable: ${available.join(", ")}\n`);
  process.exit(name ? 1 : 0);
}
process.argv = [process.argv[0]!, join(here, `${name}.ts`), ...rest];
await import(pathToFileURL(join(here, `${name}.ts`)).href);
