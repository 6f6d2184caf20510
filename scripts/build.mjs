#!/usr/bin/env node
/** Bundles the two composition roots into dist/wisp-server.mjs and dist/wisp-agent.mjs (esbuild, ESM, Node 20). @module */
// Code splitting puts what the bins import dynamically (the daemons behind `run`) and what they share into
// dist/chunks/, so a CLI call such as `wisp-agent api fetch x509` parses only its own part (measured: 0.27 s → 0.18 s).
// Native packages stay external: their .node binaries are found through node_modules at run time. Inside this
// checkout dist/ resolves them from the project's node_modules, so `node dist/wisp-agent.mjs` works from any cwd.
// Deployment: copy dist/ (it carries a package.json that pins the external packages), then in that directory run
//   npm i --omit=dev            (installs koffi and libsql with their prebuilt binaries; keep optional deps enabled)
// and start `node wisp-server.mjs run …` / `node wisp-agent.mjs run …`.
import { build } from "esbuild";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = join(ROOT, "dist");
const CHUNKS = join(DIST, "chunks");

/** Packages with native addons: bundling them loses the path to their .node file. */
const NATIVE_EXTERNALS = ["koffi", "libsql", "@libsql/*"];

// Bundled CommonJS packages (grpc-js, the AWS SDK) call require() for builtins; ESM output has no require of its own.
const REQUIRE_BANNER = 'import { createRequire as __wispCreateRequire } from "node:module";\n' +
  "const require = __wispCreateRequire(import.meta.url);";

const ENTRIES = [
  { in: "src/bin/wisp-server.ts", out: "wisp-server" },
  { in: "src/bin/wisp-agent.ts", out: "wisp-agent" },
];

function installedVersion(pkg) {
  return JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")).version;
}

async function main() {
  mkdirSync(DIST, { recursive: true });
  // Chunk names carry content hashes: old ones would pile up.
  rmSync(CHUNKS, { recursive: true, force: true });
  const started = performance.now();
  await build({
    entryPoints: ENTRIES.map((e) => ({ in: join(ROOT, e.in), out: e.out })),
    outdir: DIST,
    outExtension: { ".js": ".mjs" },
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    external: NATIVE_EXTERNALS,
    banner: { js: REQUIRE_BANNER },
    legalComments: "none",
    logLevel: "warning",
  });
  const ms = performance.now() - started;
  for (const e of ENTRIES) {
    const outfile = join(DIST, `${e.out}.mjs`);
    process.stdout.write(`${relative(ROOT, outfile)}  ${(statSync(outfile).size / 1024).toFixed(0)} KiB\n`);
  }
  const chunks = readdirSync(CHUNKS);
  const chunkKiB = chunks.reduce((n, f) => n + statSync(join(CHUNKS, f)).size, 0) / 1024;
  process.stdout.write(`${relative(ROOT, CHUNKS)}/  ${chunks.length} files  ${chunkKiB.toFixed(0)} KiB  (${ms.toFixed(0)} ms in all)\n`);
  const manifest = {
    name: "wisp-dist",
    private: true,
    type: "module",
    description: "Deployment manifest written by scripts/build.mjs: the native packages the bundles keep external",
    dependencies: { koffi: installedVersion("koffi"), libsql: installedVersion("libsql") },
  };
  writeFileSync(join(DIST, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
  process.stdout.write(`${relative(ROOT, join(DIST, "package.json"))}  (koffi ${manifest.dependencies.koffi}, libsql ${manifest.dependencies.libsql})\n`);
}

await main();
