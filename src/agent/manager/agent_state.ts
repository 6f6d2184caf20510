/** What the agent persists in its data dir so a restart serves again without re-attesting. @module */
import { fromBase64, toBase64 } from "../../core/encoding.ts";
import { NotFoundError } from "../../core/errors.ts";
import type { FS } from "../../core/ports/fs.ts";

export interface AgentState {
  /** Agent SVID chain, leaf first, DER. */
  svidChain: Uint8Array[];
  /** PKCS#8 DER of the agent key. */
  keyPKCS8: Uint8Array;
  /** Trust bundle roots, DER. */
  roots: Uint8Array[];
}

interface Stored {
  svid: string[];
  key: string;
  bundle: string[];
}

/** One file holding key and certificates, mode 0600 because of the key (SPIRE keeps it in keys.json, also 0600). */
export const STATE_FILE = "agent-data.json";

export async function loadAgentState(fs: FS, dataDir: string): Promise<AgentState | undefined> {
  let raw: Uint8Array;
  try {
    raw = await fs.readFile(fs.join(dataDir, STATE_FILE));
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
  const s = JSON.parse(new TextDecoder().decode(raw)) as Stored;
  return { svidChain: s.svid.map(fromBase64), keyPKCS8: fromBase64(s.key), roots: s.bundle.map(fromBase64) };
}

export async function saveAgentState(fs: FS, dataDir: string, st: AgentState): Promise<void> {
  await fs.mkdir(dataDir, 0o700);
  const s: Stored = { svid: st.svidChain.map(toBase64), key: toBase64(st.keyPKCS8), bundle: st.roots.map(toBase64) };
  await fs.writeFileAtomic(fs.join(dataDir, STATE_FILE), JSON.stringify(s), 0o600);
}

/** Removes the persisted SVID and key (SPIRE's deleteSVID when the agent is banned); a missing file is fine. */
export async function deleteAgentState(fs: FS, dataDir: string): Promise<void> {
  const path = fs.join(dataDir, STATE_FILE);
  if (await fs.exists(path)) await fs.remove(path);
}
