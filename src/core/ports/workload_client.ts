/** The Workload API client port used by the agent CLI (a gRPC client on a Unix socket). @module */

export interface WorkloadConn {
  /** Calls a unary method; rejects with a ServiceError carrying the gRPC status and message. */
  unary(path: string, request: Uint8Array, metadata: Record<string, string>, timeoutMs: number): Promise<Uint8Array>;
  /** Opens a server stream; `onMessage` runs per message; resolves when the stream ends or `signal` aborts. */
  serverStream(
    path: string,
    request: Uint8Array,
    metadata: Record<string, string>,
    onMessage: (message: Uint8Array) => void,
    signal: AbortSignal,
  ): Promise<void>;
  close(): void;
}

/** Dials `addr`: a socket path or a `unix:///path` URI (SPIFFE_ENDPOINT_SOCKET forms). */
export type WorkloadDialer = (addr: string) => WorkloadConn;
