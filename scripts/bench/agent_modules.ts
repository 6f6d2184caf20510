/**
 * What each module costs the agent at start: the agent's import graph loaded piece by piece, each step in a fresh
 * `node` process, and the RSS / heap it adds over the step before. Every step is an esbuild bundle with the same
 * options as `npm run build`, so the figures are those of the deployed form (no TypeScript loader in the process).
 * "cumulative" adds the steps in the order the agent's `run` loads them at start; "on demand" adds, one at a time over
 * that whole start graph, what the agent loads only when a config or a caller needs it (SDS, admin API, HTTP
 * listeners, trust bundle URL); "alone" loads each third-party package by itself over bare node.
 * No target: this is a profile for finding what to load lazily (issue 16, "a smaller agent").
 * Run: npm run bench -- agent_modules [--repeat 3] [--smoke]
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { Flags, log, MB, REPO_ROOT, writeResult } from "./lib/bench_env.ts";
import { table } from "./lib/measure.ts";

interface Step {
  name: string;
  /** Module specifiers, relative to the repo root for our own files. */
  imports: string[];
}

/** The agent daemon's graph in load order: what `wisp-agent run` imports before it reads its config. */
const CUMULATIVE: Step[] = [
  { name: "bare node (empty bundle)", imports: [] },
  { name: "@bufbuild/protobuf", imports: ["@bufbuild/protobuf"] },
  { name: "@grpc/grpc-js", imports: ["@grpc/grpc-js"] },
  { name: "undici (agent + request only)", imports: ["undici/lib/dispatcher/agent.js", "undici/lib/api/api-request.js"] },
  { name: "js-hcl-parser", imports: ["js-hcl-parser"] },
  { name: "jose", imports: ["jose"] },
  { name: "Workload API protos", imports: ["src/agent/workload/proto/workload_pb.ts"] },
  {
    name: "client commands (bin)",
    imports: [
      "src/agent/cli/fetch_x509.ts",
      "src/agent/cli/fetch_jwt.ts",
      "src/agent/cli/validate_jwt.ts",
      "src/agent/cli/watch.ts",
      "src/agent/cli/healthcheck.ts",
      "src/runtime/node/grpc_client.ts",
      "src/agent/cli/validate.ts",
      "src/agent/cli/admin_commands.ts",
    ],
  },
  { name: "agent config", imports: ["src/agent/config.ts"] },
  { name: "workload handler", imports: ["src/agent/workload/handler.ts"] },
  { name: "agent manager + client", imports: ["src/agent/manager/manager.ts", "src/agent/client/server_client.ts"] },
  { name: "agent + run command", imports: ["src/agent/agent.ts", "src/agent/cli/run.ts"] },
  {
    name: "runtime (node) daemon ports",
    imports: [
      "src/agent/attestor/unix.ts",
      "src/core/log/logger.ts",
      "src/runtime/node/grpc_server.ts",
      "src/runtime/node/log_sink.ts",
      "src/runtime/node/proc_fs.ts",
      "src/runtime/node/server_connector.ts",
    ],
  },
];

/** Loaded by the agent only when used; each is measured over the whole start graph above. */
const ON_DEMAND: Step[] = [
  { name: "SDS (Envoy schemas), first SDS call", imports: ["src/agent/sds/sds_handler.ts"] },
  { name: "admin API, admin_socket_path", imports: ["src/agent/admin/serve_admin_api.ts"] },
  { name: "HTTP listeners (hono), health_checks / Prometheus", imports: ["src/runtime/node/http_serve.ts"] },
  { name: "full undici, trust_bundle_url", imports: ["src/runtime/node/http_get.ts"] },
];

const ALONE = ["@bufbuild/protobuf", "@grpc/grpc-js", "undici", "js-hcl-parser", "jose", "@hono/node-server"];

const NATIVE_EXTERNALS = ["koffi", "libsql", "@libsql/*"];
const REQUIRE_BANNER = 'import { createRequire as __wispCreateRequire } from "node:module";\n' +
  "const require = __wispCreateRequire(import.meta.url);";

interface Mem {
  rss: number;
  heapUsed: number;
  external: number;
}

const DIR = join(REPO_ROOT, "bench-results", ".modules");

function spec(s: string): string {
  return s.startsWith("src/") ? join(REPO_ROOT, s) : s;
}

/** Bundles an entry that imports `imports` and keeps them reachable, then reports its memory after two full GCs. */
async function bundleFor(name: string, imports: string[]): Promise<string> {
  const src = imports.map((s, i) => `import * as m${i} from ${JSON.stringify(spec(s))};`).join("\n") +
    `\nglobalThis.__keep = [${imports.map((_, i) => `m${i}`).join(", ")}];\n` +
    "globalThis.gc(); globalThis.gc();\n" +
    "const u = process.memoryUsage();\n" +
    "process.stdout.write(JSON.stringify({ rss: u.rss, heapUsed: u.heapUsed, external: u.external }));\n";
  const entry = join(DIR, `${name}.entry.mjs`);
  const out = join(DIR, `${name}.mjs`);
  writeFileSync(entry, src);
  await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    external: NATIVE_EXTERNALS,
    banner: { js: REQUIRE_BANNER },
    legalComments: "none",
    logLevel: "error",
    nodePaths: [join(REPO_ROOT, "node_modules")],
  });
  return out;
}

/** Median of `repeat` fresh processes. */
function measure(file: string, repeat: number): Mem {
  const runs: Mem[] = [];
  for (let i = 0; i < repeat; i++) {
    const r = spawnSync(process.execPath, ["--expose-gc", file], { cwd: REPO_ROOT, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${file} failed: ${r.stderr}`);
    runs.push(JSON.parse(r.stdout) as Mem);
  }
  const med = (k: keyof Mem) => [...runs].sort((a, b) => a[k] - b[k])[Math.floor(runs.length / 2)]![k];
  return { rss: med("rss"), heapUsed: med("heapUsed"), external: med("external") };
}

const f1 = (bytes: number) => (bytes / MB).toFixed(1);
const d1 = (bytes: number) => `${bytes >= 0 ? "+" : ""}${(bytes / MB).toFixed(1)}`;

async function main(): Promise<void> {
  const f = new Flags();
  const smoke = f.bool("smoke");
  const repeat = f.num("repeat", smoke ? 1 : 3);
  mkdirSync(DIR, { recursive: true });
  process.stderr.write(`wisp agent_modules: ${CUMULATIVE.length} cumulative steps, ${ALONE.length} packages alone, median of ${repeat}\n`);

  // Smoke: bare node and the whole start graph only (each step is a bundle and a process).
  const steps = smoke ? [CUMULATIVE[0]!, { name: "agent start graph", imports: CUMULATIVE.flatMap((s) => s.imports) }] : CUMULATIVE;
  const lazies = smoke ? ON_DEMAND.slice(0, 1) : ON_DEMAND;
  const alones = smoke ? [] : ALONE;
  const cumulative: Array<{ step: string } & Mem & { dRSS: number; dHeap: number }> = [];
  let prev: Mem | undefined;
  const acc: string[] = [];
  for (const [i, s] of steps.entries()) {
    acc.push(...s.imports);
    const m = measure(await bundleFor(`cum-${i}`, acc), repeat);
    cumulative.push({ step: s.name, ...m, dRSS: prev ? m.rss - prev.rss : 0, dHeap: prev ? m.heapUsed - prev.heapUsed : 0 });
    prev = m;
    log(`${s.name}: RSS ${f1(m.rss)} MB`);
  }
  const bare = cumulative[0]!;
  const start = cumulative[cumulative.length - 1]!;
  const onDemand: Array<{ step: string } & Mem> = [];
  for (const [i, s] of lazies.entries()) onDemand.push({ step: s.name, ...measure(await bundleFor(`lazy-${i}`, [...acc, ...s.imports]), repeat) });
  const alone: Array<{ pkg: string } & Mem> = [];
  for (const [i, p] of alones.entries()) alone.push({ pkg: p, ...measure(await bundleFor(`alone-${i}`, [p]), repeat) });

  console.log(table(
    ["step (cumulative, agent load order)", "RSS MB", "Δ RSS", "heap MB", "Δ heap", "external MB"],
    cumulative.map((c) => [c.step, f1(c.rss), d1(c.dRSS), f1(c.heapUsed), d1(c.dHeap), f1(c.external)]),
  ));
  console.log("");
  console.log(table(
    ["on demand (over the start graph)", "RSS MB", "Δ RSS", "heap MB", "Δ heap"],
    onDemand.map((o) => [o.step, f1(o.rss), d1(o.rss - start.rss), f1(o.heapUsed), d1(o.heapUsed - start.heapUsed)]),
  ));
  console.log("");
  console.log(table(
    ["package alone", "RSS MB", "Δ RSS over bare", "heap MB", "Δ heap"],
    alone.map((a) => [a.pkg, f1(a.rss), d1(a.rss - bare.rss), f1(a.heapUsed), d1(a.heapUsed - bare.heapUsed)]),
  ));
  writeResult("agent_modules", { smoke, repeat, cumulative, onDemand, alone });
}

await main();
