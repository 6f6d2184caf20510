/** Loads native addons from the assets of a Node single executable application (the release's bin/wisp-*). @module */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import { UnavailableError } from "../../core/errors.ts";

/** The SEA asset keys under which scripts/build_sea.mjs embeds the addons: koffi's (agent) and libsql's (server). */
export const KOFFI_ASSET = "koffi.node";
export const LIBSQL_ASSET = "libsql.node";

/** The part of node:sea used here. */
interface SeaAPI {
  isSea(): boolean;
  getAsset(key: string): ArrayBuffer;
}

/** node:sea, looked up at run time: Deno has no such module, and `deno check src/` must still pass. */
function seaAPI(): SeaAPI | undefined {
  return process.getBuiltinModule?.("node:sea") as SeaAPI | undefined;
}

/**
 * Writes the embedded addon `asset` to a private temp dir, loads it with `process.dlopen` and returns its exports, which
 * is what the package's `require("….node")` would have returned. scripts/build_sea.mjs resolves that require to a call
 * of this function, so it runs only when something first imports the package.
 *
 * @throws {UnavailableError} `<asset> is not embedded: not running as a single executable application`, or
 *   `failed to load the embedded <asset> module: <reason>`
 */
export function loadSEAAddon(asset: string): unknown {
  const sea = seaAPI();
  if (sea === undefined || !sea.isSea()) throw new UnavailableError(`${asset} is not embedded: not running as a single executable application`);
  let dir: string | undefined;
  try {
    const bytes = new Uint8Array(sea.getAsset(asset));
    // mkdtemp makes the dir 0700: no other user can swap the file between the write and the dlopen.
    dir = mkdtempSync(join(tmpdir(), `wisp-${asset.replace(/\.node$/, "")}-`));
    const file = join(dir, asset);
    writeFileSync(file, bytes, { mode: 0o500, flag: "wx" });
    const mod = { exports: {} as unknown };
    process.dlopen(mod, file, constants.dlopen.RTLD_NOW);
    return mod.exports;
  } catch (err) {
    throw new UnavailableError(`failed to load the embedded ${asset} module: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  } finally {
    // The mapped library outlives its file on Linux, so nothing is left behind in the temp dir.
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
}
