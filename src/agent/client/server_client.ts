/**
 * The agent's client of the server's agent API: attest, renew, batch-sign, and the sync push stream. With several
 * servers sharing one datastore, a call that cannot reach the current server moves to the next one.
 * @module
 */
import { fromBase64, toBase64 } from "../../core/encoding.ts";
import { errorFromJSON, formatError, InvalidArgumentError, UnavailableError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import { type Logger, nullLogger } from "../../core/log/logger.ts";
import type { ServerConnection, ServerConnector } from "../../core/ports/server_connector.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { readSSE } from "../../core/sse.ts";
import { x509AuthoritiesFromSPIFFEBundle } from "../../core/bundle/spiffe_bundle.ts";
import type { BundleContentJSON } from "../../core/sync/bundle_digest.ts";
import type { ServerEndpoint } from "../server_addresses.ts";
import { JoinTokenNodeAttestor } from "../nodeattestor/join_token.ts";
import type { AgentNodeAttestor } from "../nodeattestor/node_attestor.ts";

export interface IssuedSVID {
  spiffeID: string;
  chain: Uint8Array[];
  notAfter: Date;
}

export interface IssuedJWTSVID {
  spiffeID: string;
  token: string;
  issuedAt: Date;
  expiresAt: Date;
}

export interface SyncBundleJSON {
  trust_domain: string;
  x509_authorities: string[];
  jwt_authorities: { kid: string; public_key: string; expires_at: number }[];
  sequence: number;
  /** Hex SKIs of tainted X.509 authorities (absent from servers before key-compromise support). */
  tainted_x509_authorities?: string[];
  tainted_jwt_authorities?: string[];
}

export interface SyncEntryJSON {
  id: string;
  spiffe_id: { trust_domain: string; path: string };
  parent_id: { trust_domain: string; path: string };
  selectors: { type: string; value: string }[];
  x509_svid_ttl: number;
  jwt_svid_ttl: number;
  dns_names: string[];
  hint: string;
  revision_number: number;
  created_at: number;
  /** Trust domain names (absent from servers before federation). */
  federates_with?: string[];
}

/** A foreign trust domain's bundle as the sync stream carries it. */
export type SyncFederatedBundleJSON = BundleContentJSON;

/** Event "snapshot": the agent's whole state. */
export interface SyncSnapshotJSON {
  revision: number;
  /** EntrySetDigest of the entries (absent from servers before incremental sync). */
  digest?: string;
  bundle: SyncBundleJSON;
  entries: SyncEntryJSON[];
  /** Every bundle of the trust domains the entries federate with, by trust domain name: replaces what the agent held. */
  federated_bundles?: Record<string, SyncFederatedBundleJSON>;
}

/** Event "delta": changes to apply to what the agent holds. */
export interface SyncDeltaJSON {
  revision: number;
  digest: string;
  bundle?: SyncBundleJSON;
  upserts: SyncEntryJSON[];
  deletes: string[];
  /** Federated bundles that are new or changed for this agent, by trust domain name. */
  federated_bundles?: Record<string, SyncFederatedBundleJSON>;
  /** Trust domains whose federated bundle the agent must drop. */
  federated_bundles_removed?: string[];
}

export type SyncMessage = { kind: "snapshot"; body: SyncSnapshotJSON } | { kind: "delta"; body: SyncDeltaJSON };

/** What the agent holds, sent when it reconnects so the server answers with the difference. */
export interface SyncResumeParams {
  since: number;
  digest: string;
  bundleSequence: number;
  /** The federated bundles held: trust domain name → bundleDigest. */
  federated: Map<string, string>;
}

export interface BatchResult {
  entryID: string;
  svid?: IssuedSVID;
  error?: Error;
}

const svidFromJSON = (j: { id: string; cert_chain: string[]; expires_at: number }): IssuedSVID => ({
  spiffeID: j.id,
  chain: j.cert_chain.map(fromBase64),
  notAfter: new Date(j.expires_at * 1000),
});

export class ServerClient {
  #connector: ServerConnector;
  #servers: ServerEndpoint[];
  #current = 0;
  #log: Logger;
  #serverID: string;
  #conn: ServerConnection | undefined;
  #roots: Uint8Array[] | "insecure" = "insecure";
  #client: { chainDER: Uint8Array[]; keyPKCS8: Uint8Array } | undefined;

  /** `servers`, when given and not empty, replaces `address`/`port`: every server, in preference order. */
  constructor(cfg: {
    connector: ServerConnector;
    address: string;
    port: number;
    servers?: ServerEndpoint[] | undefined;
    trustDomain: spiffeid.TrustDomain;
    logger?: Logger | undefined;
  }) {
    this.#connector = cfg.connector;
    this.#servers = cfg.servers && cfg.servers.length > 0 ? [...cfg.servers] : [{ address: cfg.address, port: cfg.port }];
    this.#log = cfg.logger ?? nullLogger;
    this.#serverID = spiffeid.serverID(cfg.trustDomain).toString();
  }

  /** Sets what the server is verified against and what the agent presents; reconnects lazily. */
  setCredentials(roots: Uint8Array[] | "insecure", client?: { chainDER: Uint8Array[]; keyPKCS8: Uint8Array }): void {
    this.#roots = roots;
    this.#client = client;
    const old = this.#conn;
    this.#conn = undefined;
    void old?.close();
  }

  /** The server calls go to now, as "host:port". */
  get currentServer(): string {
    const s = this.#servers[this.#current]!;
    return `${s.address.includes(":") ? `[${s.address}]` : s.address}:${s.port}`;
  }

  #connection(): ServerConnection {
    const server = this.#servers[this.#current]!;
    this.#conn ??= this.#connector.connect({
      address: server.address,
      port: server.port,
      roots: this.#roots,
      serverID: this.#serverID,
      client: this.#client,
    });
    return this.#conn;
  }

  /**
   * Sends one request, trying each server at most once: only a failure to get an answer moves on, never an error
   * the server answered, since servers sharing a datastore answer alike.
   * @throws {UnavailableError} naming the last server tried when none answered
   */
  async #fetch(path: string, init?: RequestInit): Promise<Response> {
    let last: unknown;
    for (let tried = 0; tried < this.#servers.length; tried++) {
      const server = this.currentServer;
      try {
        return await this.#connection().fetch(path, init);
      } catch (cause) {
        if (init?.signal?.aborted) throw cause;
        last = new UnavailableError(`failed to reach server at ${server}`, { cause });
        if (this.#servers.length > 1) this.#failover(server, cause);
      }
    }
    throw last;
  }

  #failover(from: string, cause: unknown): void {
    const old = this.#conn;
    this.#conn = undefined;
    void old?.close().catch(() => {});
    this.#current = (this.#current + 1) % this.#servers.length;
    this.#log.warn("Server unreachable; switching to the next server", { [F.ADDRESS]: from, next: this.currentServer, [F.ERROR]: formatError(cause) });
  }

  async #call<T>(path: string, init?: RequestInit): Promise<T> {
    const res = await this.#fetch(path, init);
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (cause) {
      throw new UnavailableError(`server answered ${res.status} with a body that is not JSON`, { cause });
    }
    if (!res.ok) throw errorFromJSON(body as { status?: string; code?: string; message?: string });
    return body as T;
  }

  #post<T>(path: string, body: unknown): Promise<T> {
    return this.#call<T>(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  }

  /** The trust domain's X.509 roots, read from the server's bundle endpoint. */
  async fetchBundle(): Promise<Uint8Array[]> {
    return x509AuthoritiesFromSPIFFEBundle(await this.#call("/bundle/v1/bundle"));
  }

  /**
   * SPIRE's AttestAgent: sends the attestor's payload with the CSR and answers each challenge until the server
   * answers with the agent SVID. A lost session (server restarted, deadline passed) restarts attestation once.
   */
  async attest(attestor: AgentNodeAttestor, csr: Uint8Array, signal?: AbortSignal): Promise<{ svid: IssuedSVID; reattestable: boolean }> {
    interface Answer {
      svid?: { id: string; cert_chain: string[]; expires_at: number };
      reattestable?: boolean;
      challenge?: string;
      session_id?: string;
    }
    for (let attempt = 0;; attempt++) {
      try {
        let r = await this.#post<Answer>("/agent/v1/attest", {
          attestation_data: { type: attestor.name, payload: toBase64(await attestor.payload(signal)) },
          csr: toBase64(csr),
        });
        while (typeof r.challenge === "string") {
          const response = await attestor.challenge(fromBase64(r.challenge), signal);
          r = await this.#post<Answer>("/agent/v1/attest", { session_id: r.session_id, challenge_response: toBase64(response) });
        }
        if (!r.svid) throw new UnavailableError("server answered the attestation without an agent SVID");
        return { svid: svidFromJSON(r.svid), reattestable: r.reattestable === true };
      } catch (err) {
        if (attempt > 0 || (err as { code?: string }).code !== "ERR_ATTEST_SESSION") throw err;
        this.#log.warn("Attestation session lost; starting attestation again", { [F.ERROR]: formatError(err) });
      }
    }
  }

  /** Attests with a join token (benchmarks and tests that simulate agents). */
  async attestJoinToken(token: string, csr: Uint8Array): Promise<IssuedSVID> {
    return (await this.attest(new JoinTokenNodeAttestor(async () => token), csr)).svid;
  }

  async renew(csr: Uint8Array): Promise<IssuedSVID> {
    const r = await this.#post<{ svid: { id: string; cert_chain: string[]; expires_at: number } }>("/agent/v1/renew", { csr: toBase64(csr) });
    return svidFromJSON(r.svid);
  }

  async batchSign(params: { entryID: string; csr: Uint8Array }[]): Promise<BatchResult[]> {
    const r = await this.#post<
      { results: { status: { status: string; code?: string; message?: string }; svid?: { id: string; cert_chain: string[]; expires_at: number } }[] }
    >(
      "/svid/v1/batch",
      { params: params.map((p) => ({ entry_id: p.entryID, csr: toBase64(p.csr) })) },
    );
    if (!Array.isArray(r.results) || r.results.length !== params.length) throw new InvalidArgumentError("server answered a batch of the wrong size");
    return r.results.map((x, i) => ({
      entryID: params[i]!.entryID,
      ...(x.svid ? { svid: svidFromJSON(x.svid) } : { error: errorFromJSON(x.status) }),
    }));
  }

  /** Asks the server to sign a JWT-SVID for an entry the agent is authorized for. */
  async newJWTSVID(entryID: string, audience: string[]): Promise<IssuedJWTSVID> {
    const r = await this.#post<{ svid: { id: string; token: string; expires_at: number; issued_at: number } }>("/svid/v1/jwt", { entry_id: entryID, audience });
    return { spiffeID: r.svid.id, token: r.svid.token, issuedAt: new Date(r.svid.issued_at * 1000), expiresAt: new Date(r.svid.expires_at * 1000) };
  }

  /**
   * Holds the push stream open, calling `onMessage` for each message in order; returns when the stream ends or when
   * `onMessage` answers false (the agent wants a full snapshot and reconnects without `resume`).
   */
  async sync(signal: AbortSignal, resume: SyncResumeParams | undefined, onMessage: (m: SyncMessage) => Promise<boolean | void>): Promise<void> {
    let query = "";
    if (resume) {
      query = `?since=${resume.since}&digest=${resume.digest}&bundle_sequence=${resume.bundleSequence}`;
      // Trust domain names hold no ',' or ':' (SPIFFE ID §2.1), so the pairs need no escaping.
      if (resume.federated.size > 0) query += `&federated=${[...resume.federated].map(([td, d]) => `${td}:${d}`).join(",")}`;
    }
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const res = await this.#fetch(`/agent/v1/sync${query}`, { signal: stop.signal, headers: { accept: "text/event-stream" } });
      if (!res.ok || !res.body) {
        const body = await res.json().catch(() => ({}));
        throw errorFromJSON(body as { status?: string });
      }
      for await (const ev of readSSE(res.body)) {
        let m: SyncMessage | undefined;
        if (ev.event === "snapshot") m = { kind: "snapshot", body: JSON.parse(ev.data) as SyncSnapshotJSON };
        else if (ev.event === "delta") m = { kind: "delta", body: JSON.parse(ev.data) as SyncDeltaJSON };
        if (m && (await onMessage(m)) === false) {
          stop.abort();
          return;
        }
      }
    } catch (err) {
      if (stop.signal.aborted && !signal.aborted) return;
      throw err;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  async close(): Promise<void> {
    await this.#conn?.close();
    this.#conn = undefined;
  }
}
