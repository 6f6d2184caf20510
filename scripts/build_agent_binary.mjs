#!/usr/bin/env node
/** Builds dist/wisp-agent-linux-x64, a Node single executable application of wisp-agent. @module */
// The binary needs no node_modules. Steps: CommonJS bundle of src/bin/wisp-agent.ts → SEA blob with koffi.node as an asset →
// copy of this node binary → postject injects the blob. `deno compile` is no option here: it downloads denort.
//
// Node 20 runs only CommonJS as SEA main, so two things are rewritten for this bundle alone:
// - the agent bin's top-level await: its statements after the imports run inside an async function;
// - koffi's native lookup: `@koromix/koffi-<platform>` resolves to loadSEAKoffi() (src/runtime/node/sea_koffi.ts),
//   which dlopens the embedded koffi.node from a private temp file the first time koffi is imported.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = join(ROOT, "dist");
const WORK = join(DIST, "sea");
const ENTRY = join(ROOT, "src/bin/wisp-agent.ts");
const SEA_KOFFI = join(ROOT, "src/runtime/node/sea_koffi.ts");
const OUTPUT = join(DIST, `wisp-agent-${process.platform}-${process.arch}`);
// The fuse string node's SEA support looks for (Node docs, "Single executable applications").
const SENTINEL_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
const requireFromRoot = createRequire(join(ROOT, "package.json"));

const log = (s) => process.stdout.write(s + "\n");
const size = (f) => `${(statSync(f).size / 1024 / 1024).toFixed(1)} MiB`;

/** Wraps everything after the import declarations of the bin in an async IIFE, so CommonJS output can await. */
function wrapTopLevelAwait(src) {
  const imports = [...src.matchAll(/^import\s[^"';]*?(?:from\s*)?"[^"\n]*";?[ \t]*$/gm)];
  const last = imports.at(-1);
  const cut = last ? last.index + last[0].length : 0;
  const body = src.slice(cut);
  if (/^import\s/m.test(body)) throw new Error("src/bin/wisp-agent.ts: an import follows the code; cannot wrap it");
  // An error escaping the body would be an unhandled rejection (exit 1 with a stack): report it like the CLI does.
  return `${src.slice(0, cut)}\nvoid (async () => {${body}\n})().catch((err) => {\n` +
    '  process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\\n`);\n  process.exit(1);\n});\n';
}

const seaPlugin = {
  name: "wisp-sea",
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]bin[\\/]wisp-agent\.ts$/ }, (args) => ({
      contents: wrapTopLevelAwait(readFileSync(args.path, "utf8")),
      loader: "ts",
      resolveDir: dirname(args.path),
    }));
    // koffi's ESM entry finds its addon through createRequire(import.meta.url), which a CJS bundle cannot keep.
    b.onResolve({ filter: /^koffi$/ }, () => ({ path: requireFromRoot.resolve("koffi") }));
    b.onResolve({ filter: /^@koromix\/koffi-/ }, () => ({ path: "embedded-koffi-addon", namespace: "wisp-sea-koffi" }));
    b.onLoad({ filter: /.*/, namespace: "wisp-sea-koffi" }, () => ({
      // koffi swallows the error of this require and says only "Cannot find the native Koffi module", so the
      // cause is written out first (synchronously: koffi's own error may end the process right after).
      contents: `try { module.exports = require(${JSON.stringify(SEA_KOFFI)}).loadSEAKoffi(); }\n` +
        "catch (err) { process.stderr.write(`wisp-agent: ${err.message}\\n`); throw err; }\n",
      loader: "js",
      resolveDir: ROOT,
    }));
  },
};

function koffiAddonPath() {
  const pkgDir = dirname(requireFromRoot.resolve(`@koromix/koffi-${process.platform}-${process.arch}/package.json`));
  const glibc = join(pkgDir, `${process.platform}_${process.arch}`, "koffi.node");
  if (!existsSync(glibc)) throw new Error(`koffi addon "${glibc}" not found`);
  return glibc;
}

function postjectBin() {
  const local = join(ROOT, "node_modules/.bin/postject");
  return existsSync(local) ? local : undefined;
}

async function main() {
  const t0 = performance.now();
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });

  const bundle = join(WORK, "wisp-agent.cjs");
  await build({
    entryPoints: [ENTRY],
    outfile: bundle,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    plugins: [seaPlugin],
    legalComments: "none",
    logLevel: "error",
  });
  log(`${relative(ROOT, bundle)}  ${size(bundle)}  ${(performance.now() - t0).toFixed(0)} ms`);

  const blob = join(WORK, "sea-prep.blob");
  const config = join(WORK, "sea-config.json");
  writeFileSync(config, JSON.stringify({
    main: bundle,
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
    assets: { "koffi.node": koffiAddonPath() },
  }, null, 2));
  const t1 = performance.now();
  const gen = spawnSync(process.execPath, ["--experimental-sea-config", config], { cwd: ROOT, encoding: "utf8" });
  if (gen.status !== 0) throw new Error(`node --experimental-sea-config failed: ${gen.stderr || gen.stdout}`);
  log(`${relative(ROOT, blob)}  ${size(blob)}  ${(performance.now() - t1).toFixed(0)} ms`);

  const postject = postjectBin();
  if (postject === undefined) {
    process.stderr.write(
      `postject is not installed, so ${relative(ROOT, OUTPUT)} was not written; the bundle and SEA blob are in ` +
        `${relative(ROOT, WORK)}/. Add it with "npm i -D postject@1.0.0-alpha.6" and run this again.\n`,
    );
    return 1;
  }
  rmSync(OUTPUT, { force: true });
  copyFileSync(process.execPath, OUTPUT);
  chmodSync(OUTPUT, 0o755);
  const t2 = performance.now();
  const inj = spawnSync(postject, [OUTPUT, "NODE_SEA_BLOB", blob, "--sentinel-fuse", SENTINEL_FUSE], { cwd: ROOT, encoding: "utf8" });
  if (inj.status !== 0) {
    rmSync(OUTPUT, { force: true });
    throw new Error(`postject failed: ${inj.stderr || inj.stdout}`);
  }
  log(`${relative(ROOT, OUTPUT)}  ${size(OUTPUT)}  ${(performance.now() - t2).toFixed(0)} ms (total ${(performance.now() - t0).toFixed(0)} ms)`);
  return 0;
}

process.exitCode = await main();
