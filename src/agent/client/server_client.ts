/** The agent's client of the server's agent API: attest, renew, batch-sign, and the sync push stream. @module */
import { fromBase64, toBase64 } from "../../core/encoding.ts";
import { errorFromJSON, InvalidArgumentError, UnavailableError } from "../../core/errors.ts";
import type { ServerConnection, ServerConnector } from "../../core/ports/server_connector.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { readSSE } from "../../core/sse.ts";
import { x509AuthoritiesFromSPIFFEBundle } from "../../core/bundle/spiffe_bundle.ts";

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

export interface SyncSnapshotJSON {
  revision: number;
  bundle: { trust_domain: string; x509_authorities: string[]; jwt_authorities: { kid: string; public_key: string; expires_at: number }[]; sequence: number };
  entries: {
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
  }[];
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
  #address: string;
  #port: number;
  #serverID: string;
  #conn: ServerConnection | undefined;
  #roots: Uint8Array[] | "insecure" = "insecure";
  #client: { chainDER: Uint8Array[]; keyPKCS8: Uint8Array } | undefined;

  constructor(cfg: { connector: ServerConnector; address: string; port: number; trustDomain: spiffeid.TrustDomain }) {
    this.#connector = cfg.connector;
    this.#address = cfg.address;
    this.#port = cfg.port;
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

  #connection(): ServerConnection {
    this.#conn ??= this.#connector.connect({
      address: this.#address,
      port: this.#port,
      roots: this.#roots,
      serverID: this.#serverID,
      client: this.#client,
    });
    return this.#conn;
  }

  async #call<T>(path: string, init?: RequestInit): Promise<T> {
    let res: Response;
    try {
      res = await this.#connection().fetch(path, init);
    } catch (cause) {
      throw new UnavailableError(`failed to reach server at ${this.#address}:${this.#port}`, { cause });
    }
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

  async attestJoinToken(token: string, csr: Uint8Array): Promise<IssuedSVID> {
    const r = await this.#post<{ svid: { id: string; cert_chain: string[]; expires_at: number } }>("/agent/v1/attest", {
      attestation_data: { type: "join_token", payload: token },
      csr: toBase64(csr),
    });
    return svidFromJSON(r.svid);
  }

  async renew(csr: Uint8Array): Promise<IssuedSVID> {
    const r = await this.#post<{ svid: { id: string; cert_chain: string[]; expires_at: number } }>("/agent/v1/renew", { csr: toBase64(csr) });
    return svidFromJSON(r.svid);
  }

  async batchSign(params: { entryID: string; csr: Uint8Array }[]): Promise<BatchResult[]> {
    const r = await this.#post<{ results: { status: { status: string; code?: string; message?: string }; svid?: { id: string; cert_chain: string[]; expires_at: number } }[] }>(
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

  /** Holds the push stream open, calling `onSnapshot` for each state the server sends; returns when it ends. */
  async sync(signal: AbortSignal, onSnapshot: (s: SyncSnapshotJSON) => Promise<void>): Promise<void> {
    let res: Response;
    try {
      res = await this.#connection().fetch("/agent/v1/sync", { signal, headers: { accept: "text/event-stream" } });
    } catch (cause) {
      throw new UnavailableError(`failed to reach server at ${this.#address}:${this.#port}`, { cause });
    }
    if (!res.ok || !res.body) {
      const body = await res.json().catch(() => ({}));
      throw errorFromJSON(body as { status?: string });
    }
    for await (const ev of readSSE(res.body)) {
      if (ev.event === "snapshot") await onSnapshot(JSON.parse(ev.data) as SyncSnapshotJSON);
    }
  }

  async close(): Promise<void> {
    await this.#conn?.close();
    this.#conn = undefined;
  }
}
