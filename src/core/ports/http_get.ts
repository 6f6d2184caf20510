/** The HTTP GET port: one download, for the agent's bootstrap bundle (`trust_bundle_url`). @module */

/** What a GET answered. */
export interface HTTPGetResponse {
  /** e.g. 200 */
  status: number;
  /** Go's `resp.Status` shape, e.g. "404 Not Found", which SPIRE puts in its error text. */
  statusText: string;
  body: Uint8Array;
}

/**
 * Downloads `url`. HTTPS servers are verified against the runtime's trust store (Node's CA list plus
 * NODE_EXTRA_CA_CERTS, which Deno also honours), as SPIRE's http.DefaultClient uses the system roots. With
 * `unixSocket`, the request goes over that Unix socket instead of TCP.
 * @throws when no answer arrives (connection, TLS or timeout); an HTTP error status is an answer
 */
export type HTTPGet = (url: string, o?: { unixSocket?: string | undefined; signal?: AbortSignal | undefined }) => Promise<HTTPGetResponse>;
