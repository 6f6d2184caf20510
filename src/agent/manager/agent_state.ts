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
  /** Whether the server said this agent may re-attest (SPIRE keeps it beside the SVID). */
  reattestable: boolean;
}

interface Stored {
  svid: string[];
  key: string;
  bundle: string[];
  reattestable?: boolean;
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
  return { svidChain: s.svid.map(fromBase64), keyPKCS8: fromBase64(s.key), roots: s.bundle.map(fromBase64), reattestable: s.reattestable === true };
}

export async function saveAgentState(fs: FS, dataDir: string, st: AgentState): Promise<void> {
  await fs.mkdir(dataDir, 0o700);
  const s: Stored = { svid: st.svidChain.map(toBase64), key: toBase64(st.keyPKCS8), bundle: st.roots.map(toBase64), reattestable: st.reattestable };
  await fs.writeFileAtomic(fs.join(dataDir, STATE_FILE), JSON.stringify(s), 0o600);
}

/** Forgets the agent SVID, key and bundle (banned, must re-attest without being able to, rebootstrap). */
export async function deleteAgentState(fs: FS, dataDir: string): Promise<void> {
  try {
    await fs.remove(fs.join(dataDir, STATE_FILE));
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
}
