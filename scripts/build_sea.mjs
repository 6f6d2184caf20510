#!/usr/bin/env node
/** Builds Node single executable applications of wisp-server and wisp-agent, with their native addons inside. @module */
// A binary needs no Node and no node_modules. Steps: CommonJS bundle of src/bin/<name>.ts → SEA blob with the native
// addons as assets → copy of this node binary → postject injects the blob. `deno compile` is no option here: it
// downloads denort.
//
// Node 20 runs only CommonJS as SEA main, so three things are rewritten for these bundles alone:
// - the bin's top-level await: its statements after the imports run inside an async function;
// - koffi's native lookup (agent): `@koromix/koffi-<platform>` resolves to loadSEAAddon("koffi.node");
// - libsql's native lookup (server): `require(`@libsql/${target}`)` becomes loadSEAAddon("libsql.node").
// loadSEAAddon (src/runtime/node/sea_addon.ts) dlopens the embedded addon from a private temp file the first time the
// package is imported. Which addons a bin needs was read from its esbuild metafile: the server bundle pulls in libsql
// (SQLite datastore) and no koffi; the agent pulls in koffi (SO_PEERCRED) and no libsql. build() fails when a bundle
// reaches a native package this file does not embed.
//
// Usage: node scripts/build_sea.mjs wisp-server|wisp-agent <output file>
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SEA_ADDON = join(ROOT, "src/runtime/node/sea_addon.ts");
// The fuse string node's SEA support looks for (Node docs, "Single executable applications").
const SENTINEL_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
const requireFromRoot = createRequire(join(ROOT, "package.json"));
const PLATFORM = `${process.platform}-${process.arch}`;

const size = (f) => `${(statSync(f).size / 1024 / 1024).toFixed(1)} MiB`;

/** Wraps everything after the import declarations of a bin in an async IIFE, so CommonJS output can await. */
function wrapTopLevelAwait(name, src) {
  const imports = [...src.matchAll(/^import\s[^"';]*?(?:from\s*)?"[^"\n]*";?[ \t]*$/gm)];
  const last = imports.at(-1);
  const cut = last ? last.index + last[0].length : 0;
  const body = src.slice(cut);
  if (/^import\s/m.test(body)) throw new Error(`src/bin/${name}.ts: an import follows the code; cannot wrap it`);
  // An error escaping the body would be an unhandled rejection (exit 1 with a stack): report it like the CLI does.
  return `${src.slice(0, cut)}\nvoid (async () => {${body}\n})().catch((err) => {\n` +
    "  process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\\n`);\n  process.exit(1);\n});\n";
}

/** A module whose exports are the embedded addon `asset`; its failure is written out before the package's own error. */
function addonModule(name, asset) {
  // koffi swallows the error of this require and says only "Cannot find the native Koffi module", so the cause is
  // written out first (synchronously: the package's own error may end the process right after).
  return `try { module.exports = require(${JSON.stringify(SEA_ADDON)}).loadSEAAddon(${JSON.stringify(asset)}); }\n` +
    `catch (err) { process.stderr.write(\`${name}: \${err.message}\\n\`); throw err; }\n`;
}

function koffiAddonPath() {
  const pkgDir = dirname(requireFromRoot.resolve(`@koromix/koffi-${PLATFORM}/package.json`));
  const glibc = join(pkgDir, `${process.platform}_${process.arch}`, "koffi.node");
  if (!existsSync(glibc)) throw new Error(`koffi addon "${glibc}" not found`);
  return glibc;
}

function libsqlAddonPath() {
  // The SEA is a copy of this (glibc) node binary, so it takes the gnu build whatever detect-libc would say.
  const file = requireFromRoot.resolve(`@libsql/${PLATFORM}-gnu`);
  if (!file.endsWith(".node")) throw new Error(`libsql addon resolved to "${file}", not a .node file`);
  return file;
}

const LIBSQL_NATIVE_REQUIRE = "require(`@libsql/${target}`)";

/** What each bin embeds: SEA asset key → addon file, and the esbuild hooks that route the package's lookup to it. */
const ADDONS = {
  koffi: {
    asset: "koffi.node",
    file: koffiAddonPath,
    setup(b, name) {
      // koffi's ESM entry finds its addon through createRequire(import.meta.url), which a CJS bundle cannot keep.
      b.onResolve({ filter: /^koffi$/ }, () => ({ path: requireFromRoot.resolve("koffi") }));
      b.onResolve({ filter: /^@koromix\/koffi-/ }, () => ({ path: "koffi.node", namespace: "wisp-sea-addon" }));
      b.onLoad({ filter: /^koffi\.node$/, namespace: "wisp-sea-addon" }, () => ({
        contents: addonModule(name, "koffi.node"),
        loader: "js",
        resolveDir: ROOT,
      }));
    },
  },
  libsql: {
    asset: "libsql.node",
    file: libsqlAddonPath,
    setup(b, name) {
      b.onLoad({ filter: /[\\/]node_modules[\\/]libsql[\\/]index\.js$/ }, (args) => {
        const src = readFileSync(args.path, "utf8");
        // Fail the build rather than ship a server that cannot open its datastore after a libsql upgrade.
        if (!src.includes(LIBSQL_NATIVE_REQUIRE)) throw new Error(`${args.path}: no ${LIBSQL_NATIVE_REQUIRE} to embed`);
        return { contents: src.replace(LIBSQL_NATIVE_REQUIRE, 'require("wisp-sea-addon:libsql.node")'), loader: "js", resolveDir: dirname(args.path) };
      });
      b.onResolve({ filter: /^wisp-sea-addon:libsql\.node$/ }, () => ({ path: "libsql.node", namespace: "wisp-sea-addon" }));
      b.onLoad({ filter: /^libsql\.node$/, namespace: "wisp-sea-addon" }, () => ({
        contents: addonModule(name, "libsql.node"),
        loader: "js",
        resolveDir: ROOT,
      }));
    },
  },
};

/** The native addons each bin's bundle reaches (from its esbuild metafile). */
export const BINS = {
  "wisp-server": ["libsql"],
  "wisp-agent": ["koffi"],
};

/** Native files a bundle must not contain un-embedded: any .node, and the loaders of the packages above. */
const NATIVE_INPUT = /\.node$|[\\/]node_modules[\\/](?:koffi|libsql|@libsql|@koromix)[\\/]/;

function postjectBin() {
  const local = join(ROOT, "node_modules/.bin/postject");
  return existsSync(local) ? local : undefined;
}

/**
 * Builds the SEA of `name` into `output`; the bundle and blob go to `workDir`. Returns the figures it logs.
 * @param {{ name: "wisp-server" | "wisp-agent", output: string, workDir?: string, log?: (s: string) => void }} o
 */
export async function buildSEA({ name, output, workDir = join(ROOT, "dist/sea", name), log = (s) => process.stdout.write(s + "\n") }) {
  const addons = BINS[name];
  if (addons === undefined) throw new Error(`unknown bin "${name}": expected one of ${Object.keys(BINS).join(", ")}`);
  const entry = join(ROOT, `src/bin/${name}.ts`);
  const t0 = performance.now();
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });

  const bundle = join(workDir, `${name}.cjs`);
  const result = await build({
    entryPoints: [entry],
    outfile: bundle,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    metafile: true,
    plugins: [{
      name: "wisp-sea",
      setup(b) {
        b.onLoad({ filter: new RegExp(`[\\\\/]src[\\\\/]bin[\\\\/]${name}\\.ts$`) }, (args) => ({
          contents: wrapTopLevelAwait(name, readFileSync(args.path, "utf8")),
          loader: "ts",
          resolveDir: dirname(args.path),
        }));
        for (const a of addons) ADDONS[a].setup(b, name);
      },
    }],
    legalComments: "none",
    logLevel: "error",
  });
  // Everything embedded comes through the wisp-sea-addon namespace; a native file anywhere else would be looked
  // for on disk at run time and fail on the target machine only.
  const stray = Object.keys(result.metafile.inputs).filter((p) =>
    NATIVE_INPUT.test(p) && !p.startsWith("wisp-sea-addon:") && !/node_modules[\\/](?:koffi|libsql)[\\/]/.test(p)
  );
  if (stray.length > 0) throw new Error(`${name}: the bundle reaches native code that is not embedded: ${stray.join(", ")}`);
  log(`${relative(ROOT, bundle)}  ${size(bundle)}  ${(performance.now() - t0).toFixed(0)} ms`);

  const blob = join(workDir, "sea-prep.blob");
  const config = join(workDir, "sea-config.json");
  writeFileSync(
    config,
    JSON.stringify(
      {
        main: bundle,
        output: blob,
        disableExperimentalSEAWarning: true,
        useCodeCache: true,
        assets: Object.fromEntries(addons.map((a) => [ADDONS[a].asset, ADDONS[a].file()])),
      },
      null,
      2,
    ),
  );
  const t1 = performance.now();
  const gen = spawnSync(process.execPath, ["--experimental-sea-config", config], { cwd: ROOT, encoding: "utf8" });
  if (gen.status !== 0) throw new Error(`node --experimental-sea-config failed: ${gen.stderr || gen.stdout}`);
  log(`${relative(ROOT, blob)}  ${size(blob)}  ${(performance.now() - t1).toFixed(0)} ms`);

  const postject = postjectBin();
  if (postject === undefined) {
    throw new Error(
      `postject is not installed, so ${relative(ROOT, output)} was not written; the bundle and SEA blob are in ` +
        `${relative(ROOT, workDir)}/. Add it with "npm i -D postject@1.0.0-alpha.6" and run this again.`,
    );
  }
  mkdirSync(dirname(output), { recursive: true });
  rmSync(output, { force: true });
  copyFileSync(process.execPath, output);
  chmodSync(output, 0o755);
  const t2 = performance.now();
  const inj = spawnSync(postject, [output, "NODE_SEA_BLOB", blob, "--sentinel-fuse", SENTINEL_FUSE], { cwd: ROOT, encoding: "utf8" });
  if (inj.status !== 0) {
    rmSync(output, { force: true });
    throw new Error(`postject failed: ${inj.stderr || inj.stdout}`);
  }
  const totalMs = performance.now() - t0;
  log(`${relative(ROOT, output)}  ${size(output)}  ${(performance.now() - t2).toFixed(0)} ms (total ${totalMs.toFixed(0)} ms)`);
  return { output, totalMs };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [name, output] = process.argv.slice(2);
  if (name === undefined || output === undefined) {
    process.stderr.write("Usage: node scripts/build_sea.mjs wisp-server|wisp-agent <output file>\n");
    process.exit(2);
  }
  try {
    await buildSEA({ name, output: resolve(output) });
  } catch (err) {
    process.stderr.write(`Error: ${err.message}\n`);
    process.exit(1);
  }
}
