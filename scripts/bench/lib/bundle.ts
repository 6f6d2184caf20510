/**
 * Builds wisp-server and wisp-agent for benchmarks into bench-results/.bundle with the options of scripts/build.mjs
 * (code splitting included: what a daemon imports lazily stays in chunks loaded only when used), so the deployed
 * form is measured without touching dist/.
 * @module
 */
import { build } from "esbuild";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./bench_env.ts";

export interface Bundles {
  server: string;
  agent: string;
}

export async function buildBundles(): Promise<Bundles> {
  const dir = join(REPO_ROOT, "bench-results", ".bundle");
  // Chunk names carry content hashes: old ones would pile up.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await build({
    entryPoints: [
      { in: join(REPO_ROOT, "src/bin/wisp-server.ts"), out: "wisp-server" },
      { in: join(REPO_ROOT, "src/bin/wisp-agent.ts"), out: "wisp-agent" },
    ],
    outdir: dir,
    outExtension: { ".js": ".mjs" },
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    external: ["koffi", "libsql", "@libsql/*"],
    banner: { js: 'import { createRequire as __wispCreateRequire } from "node:module";\nconst require = __wispCreateRequire(import.meta.url);' },
    legalComments: "none",
    logLevel: "warning",
  });
  return { server: join(dir, "wisp-server.mjs"), agent: join(dir, "wisp-agent.mjs") };
}
