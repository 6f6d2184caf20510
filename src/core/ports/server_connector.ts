/** The agent's transport to the server: HTTPS with the agent SVID as client certificate. @module */
import type { BoundFetch } from "./http_server.ts";

export interface ServerConnection {
  fetch: BoundFetch;
  close(): Promise<void>;
}

export interface ServerConnector {
  /**
   * Opens a connection pool to `https://<address>:<port>`. The server must present an SVID for `serverID`
   * chaining to `roots`; `roots: "insecure"` skips that check and is only for insecure_bootstrap.
   */
  connect(o: {
    address: string;
    port: number;
    roots: Uint8Array[] | "insecure";
    serverID: string;
    client?: { chainDER: Uint8Array[]; keyPKCS8: Uint8Array } | undefined;
  }): ServerConnection;
}
