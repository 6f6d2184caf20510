/**
 * A lightweight in-process agent speaking the real agent API (the agent's own ServerClient over mTLS): attests with
 * a join token, holds the SSE sync stream, renews its SVID and batch-signs workload SVIDs. Hundreds to thousands
 * of them load one server from one process.
 * @module
 */
import { exportPKCS8, generateKeyPair } from "../../../src/core/crypto/ec_p256.ts";
import * as spiffeid from "../../../src/core/spiffeid/mod.ts";
import { createCSR } from "../../../src/core/x509/csr.ts";
import { type BatchResult, ServerClient, type SyncMessage } from "../../../src/agent/client/server_client.ts";
import { nodeServerConnector } from "../../../src/runtime/node/server_connector.ts";

export interface SimAgentOptions {
  port: number;
  roots: Uint8Array[];
  trustDomain: string;
}

export class SimAgent {
  readonly client: ServerClient;
  readonly #roots: Uint8Array[];
  id = "";
  svidNotAfter = new Date(0);
  svidIssuedAt = new Date(0);
  /** Snapshots received on the current and earlier sync streams. */
  snapshots = 0;
  syncBytes = 0;
  #sync: AbortController | undefined;
  /** The current agent SVID chain and key, for callers that open their own connections. */
  credentials: { chainDER: Uint8Array[]; keyPKCS8: Uint8Array } | undefined;

  constructor(o: SimAgentOptions) {
    this.#roots = o.roots;
    this.client = new ServerClient({
      connector: nodeServerConnector,
      address: "127.0.0.1",
      port: o.port,
      trustDomain: spiffeid.trustDomainFromString(o.trustDomain),
    });
    this.client.setCredentials(o.roots);
  }

  async attest(token: string): Promise<void> {
    const pair = await generateKeyPair(true);
    const svid = await this.client.attestJoinToken(token, await createCSR(pair));
    this.id = svid.spiffeID;
    this.#use(svid.chain, svid.notAfter, await exportPKCS8(pair.privateKey));
  }

  async renew(): Promise<void> {
    const pair = await generateKeyPair(true);
    const svid = await this.client.renew(await createCSR(pair));
    this.#use(svid.chain, svid.notAfter, await exportPKCS8(pair.privateKey));
  }

  #use(chain: Uint8Array[], notAfter: Date, keyPKCS8: Uint8Array): void {
    this.svidIssuedAt = new Date();
    this.svidNotAfter = notAfter;
    this.credentials = { chainDER: chain, keyPKCS8 };
    this.client.setCredentials(this.#roots, this.credentials);
  }

  /**
   * (Re)opens the sync stream; `onMessage` sees every message (snapshot or delta). A previous stream is aborted.
   * `syncBytes` counts the JSON of every message (the SSE data lines on the wire).
   */
  startSync(onMessage: (m: SyncMessage) => void | Promise<void>, onError?: (err: unknown) => void): void {
    this.#sync?.abort();
    const ctl = new AbortController();
    this.#sync = ctl;
    void this.client.sync(ctl.signal, undefined, async (m) => {
      this.snapshots++;
      this.syncBytes += JSON.stringify(m.body).length;
      await onMessage(m);
    }).catch((err) => {
      if (!ctl.signal.aborted) onError?.(err);
    });
  }

  /** New keys and CSRs for the entries, signed in one batch call. */
  async batchSign(entryIDs: string[]): Promise<BatchResult[]> {
    const params = await Promise.all(entryIDs.map(async (entryID) => ({ entryID, csr: await createCSR(await generateKeyPair(true)) })));
    return this.client.batchSign(params);
  }

  async close(): Promise<void> {
    this.#sync?.abort();
    await this.client.close().catch(() => {});
  }
}
