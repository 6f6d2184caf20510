/** Loads koffi's native addon from the assets of a Node single executable application (dist/wisp-agent-linux-x64). @module */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import { UnavailableError } from "../../core/errors.ts";

/** The SEA asset key under which scripts/build_agent_binary.mjs embeds koffi.node. */
export const KOFFI_ASSET = "koffi.node";

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
 * Writes the embedded koffi.node to a private temp dir, loads it with `process.dlopen` and returns the addon's exports,
 * which is what koffi expects from its `@koromix/koffi-<platform>` package. scripts/build_agent_binary.mjs resolves
 * those packages to a call of this function, so it runs only when something first imports koffi.
 *
 * @throws {UnavailableError} `koffi is not embedded: not running as a single executable application`, or
 *   `failed to load the embedded koffi module: <reason>`
 */
export function loadSEAKoffi(): unknown {
  const sea = seaAPI();
  if (sea === undefined || !sea.isSea()) throw new UnavailableError("koffi is not embedded: not running as a single executable application");
  let dir: string | undefined;
  try {
    const bytes = new Uint8Array(sea.getAsset(KOFFI_ASSET));
    // mkdtemp makes the dir 0700: no other user can swap the file between the write and the dlopen.
    dir = mkdtempSync(join(tmpdir(), "wisp-koffi-"));
    const file = join(dir, KOFFI_ASSET);
    writeFileSync(file, bytes, { mode: 0o500, flag: "wx" });
    const mod = { exports: {} as unknown };
    process.dlopen(mod, file, constants.dlopen.RTLD_NOW);
    return mod.exports;
  } catch (err) {
    throw new UnavailableError(`failed to load the embedded koffi module: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  } finally {
    // The mapped library outlives its file on Linux, so nothing is left behind in the temp dir.
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
}
