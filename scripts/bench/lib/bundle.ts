/**
 * Builds wisp-server and wisp-agent bundles for benchmarks into bench-results/.bundle (same esbuild options as
 * scripts/build.mjs), so the production form can be measured without touching dist/.
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
  mkdirSync(dir, { recursive: true });
  const out: Bundles = { server: join(dir, "wisp-server.mjs"), agent: join(dir, "wisp-agent.mjs") };
  for (const [entry, outfile] of [["src/bin/wisp-server.ts", out.server], ["src/bin/wisp-agent.ts", out.agent]] as const) {
    await build({
      entryPoints: [join(REPO_ROOT, entry)],
      outfile,
      bundle: true,
      platform: "node",
      target: "node20",
      format: "esm",
      external: ["koffi", "libsql", "@libsql/*"],
      banner: { js: 'import { createRequire as __wispCreateRequire } from "node:module";\nconst require = __wispCreateRequire(import.meta.url);' },
      legalComments: "none",
      logLevel: "warning",
    });
  }
  return out;
}

/**
 * The agent exactly as `npm run build` writes dist/ (code splitting: what `run` imports lazily stays in chunks that
 * are loaded only when used), into bench-results/.dist so dist/ itself is left alone. Returns the agent entry.
 */
export async function buildDistAgent(): Promise<string> {
  const dir = join(REPO_ROOT, "bench-results", ".dist");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await build({
    entryPoints: [{ in: join(REPO_ROOT, "src/bin/wisp-agent.ts"), out: "wisp-agent" }],
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
  return join(dir, "wisp-agent.mjs");
}
