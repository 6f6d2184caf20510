// Shared by the bin launchers. Node 20 cannot run TypeScript, so a launcher runs the esbuild bundle in dist/ when it
// is newer than every source file (built by `npm run build`, which `npm ci` runs through "prepare"), and otherwise
// registers tsx's loader and runs the source. WISP_FROM_SOURCE=1 forces the source.
import { readdirSync, statSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { join } from "node:path";

const root = fileURLToPath(new URL("..", import.meta.url));

function newestMtime(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function bundleIsFresh(bundle) {
  try {
    return statSync(bundle).mtimeMs >= Math.max(newestMtime(join(root, "src")), statSync(join(root, "package-lock.json")).mtimeMs);
  } catch {
    return false;
  }
}

export async function launch(name) {
  const bundle = join(root, "dist", `${name}.mjs`);
  if (process.env.WISP_FROM_SOURCE !== "1" && bundleIsFresh(bundle)) {
    await import(pathToFileURL(bundle).href);
    return;
  }
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(join(root, "src", "bin", `${name}.ts`)).href);
}
