/** The HTTP serving port: hono apps are plain fetch handlers; runtimes bind them to TCP+TLS or Unix sockets. @module */

/** `env` carries what only the transport knows: `peerCertChain` (DER, leaf first) for mTLS, the peer's `remoteAddress`. */
export type FetchHandler = (req: Request, env: Record<string, unknown>) => Response | Promise<Response>;

export interface TLSCredentials {
  /** Leaf first, PEM. */
  certChainPEM: string;
  /** PKCS#8 PEM. */
  keyPEM: string;
}

export interface HTTPServerHandle {
  /** The bound TCP port (0 for Unix sockets). */
  readonly port: number;
  close(): Promise<void>;
}

export interface TLSServerHandle extends HTTPServerHandle {
  /** Swaps the certificate for new connections (server SVID rotation). */
  setCredentials(c: TLSCredentials): void;
}

export interface HTTPServe {
  /** HTTPS that asks for (but does not require) a client certificate and hands the chain to the handler. */
  https(o: { hostname: string; port: number; fetch: FetchHandler; credentials: TLSCredentials }): Promise<TLSServerHandle>;
  /** Plain HTTP on a Unix socket with the given mode; refuses to start if another process is serving on it. */
  unix(o: { socketPath: string; mode: number; fetch: FetchHandler }): Promise<HTTPServerHandle>;
  /** Plain HTTP on TCP (health endpoints). */
  http(o: { hostname: string; port: number; fetch: FetchHandler }): Promise<HTTPServerHandle>;
}

/** A fetch bound to a transport (a Unix socket, or mTLS to the server). */
export type BoundFetch = (path: string, init?: RequestInit) => Promise<Response>;
