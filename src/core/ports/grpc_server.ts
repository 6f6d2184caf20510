/** The gRPC server port: how portable services describe methods and what a handler learns about its caller. @module */
import type { ServiceError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { FetchHandler, TLSCredentials, TLSServerHandle } from "./http_server.ts";
import type { ProcFS } from "./proc_fs.ts";

/** The caller's identity as the kernel reported it (SO_PEERCRED) when the connection was accepted. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/**
 * Who called over TCP + TLS (SPIRE's server port), as the server's `authenticate` hook resolved the client's
 * certificate once per connection.
 */
export interface TLSCaller {
  /** The peer's IP address (IPv4-mapped IPv6 unwrapped, as Go reports it). */
  address: string;
  /** The SPIFFE ID of the verified client certificate; absent when the client sent none (an unauthenticated caller). */
  id?: string | undefined;
  /** The verified chain, leaf first, ending with the trusted root; absent without a certificate. */
  chain?: Uint8Array[] | undefined;
  /** The leaf had expired at the handshake; the chain was verified at the leaf's last valid second instead. */
  expired?: boolean | undefined;
}

/** What a handler knows about one call. */
export interface CallContext {
  /**
   * Read with SO_PEERCRED at accept time, never from the client. TCP connections carry no kernel credentials: there it is
   * NO_PEER_CREDENTIALS.
   */
  peer: PeerCredentials;
  /** Set on TCP + TLS connections only; its absence means a local (Unix socket) caller. */
  caller?: TLSCaller | undefined;
  /** gRPC request metadata values for `key` (lowercase); empty when absent. */
  metadata(key: string): string[];
  /** Aborted when the client cancels or disconnects, or the server stops. */
  signal: AbortSignal;
  /**
   * Re-checks the caller process still is the one that connected (PID-reuse guard).
   * @throws {UnauthenticatedError} "could not verify existence of the original caller" otherwise
   */
  verifyPeerAlive(): Promise<void>;
}

/** The peer credentials of a TCP call, which has none. */
export const NO_PEER_CREDENTIALS: PeerCredentials = Object.freeze({ pid: 0, uid: -1, gid: -1 });

/** A request/response method. */
export interface UnaryMethod<Req, Res> {
  kind: "unary";
  /** Full gRPC path, e.g. "/SpiffeWorkloadAPI/FetchJWTSVID". */
  path: string;
  /** Parses the request bytes; any throw answers INVALID_ARGUMENT. */
  decode(b: Uint8Array): Req;
  encode(m: Res): Uint8Array;
  /** Resolves with the response; throws a ServiceError to answer with its status. */
  handle(req: Req, ctx: CallContext): Promise<Res>;
}

/** A method that answers one request with a stream of messages. */
export interface ServerStreamMethod<Req, Res> {
  kind: "server_stream";
  path: string;
  decode(b: Uint8Array): Req;
  encode(m: Res): Uint8Array;
  /** Sends messages via send(); resolves to end the stream OK; throws a ServiceError to end it with that status */
  handle(req: Req, ctx: CallContext, send: (m: Res) => void): Promise<void>;
}

/** A bidirectional stream (Envoy's StreamSecrets): the client's requests arrive as an async iterable. */
export interface BidiStreamMethod<Req, Res> {
  kind: "bidi_stream";
  path: string;
  decode(b: Uint8Array): Req;
  encode(m: Res): Uint8Array;
  /**
   * Reads `requests` (ends when the client half-closes; a request that does not decode throws InvalidArgumentError
   * from the iterator) and sends via send(); resolves to end the stream OK, throws a ServiceError for that status.
   */
  handle(requests: AsyncIterable<Req>, ctx: CallContext, send: (m: Res) => void): Promise<void>;
}

// deno-lint-ignore no-explicit-any
export type GRPCMethod = UnaryMethod<any, any> | ServerStreamMethod<any, any> | BidiStreamMethod<any, any>;

/** A running server. */
export interface GRPCServerHandle {
  /** Stops accepting, ends open calls (UNAVAILABLE) and closes every connection; resolves within about a second. */
  close(): Promise<void>;
  /** Server-streaming and bidirectional calls currently open. */
  openStreams(): number;
}

/** Reads the kernel's peer credentials of a connected unix socket's file descriptor. */
export type PeerCredReader = (fd: number) => PeerCredentials;

/** Starts a gRPC server on a unix socket whose handlers see the caller's peer credentials. */
export type ServeGRPC = (opts: {
  /** Unix socket path; a stale socket file is replaced, the parent directory created. */
  socketPath: string;
  methods: GRPCMethod[];
  logger: Logger;
  /** Permission bits of the socket file; default 0o777 (SPIRE's public Workload API socket). */
  socketMode?: number;
  /** Runtime-specific SO_PEERCRED reader; default: the runtime's own (koffi on Node). */
  peerCred?: PeerCredReader;
  /** /proc access for the PID-reuse guard; default: the runtime's own reading /proc. */
  proc?: ProcFS;
  /**
   * Check each client's HTTP/2 framing before the runtime's HTTP/2 layer reads it, and end connections that break
   * the protocol; default false. Deno's HTTP/2 aborts the process on some malformed input, so the agent turns it on
   * under Deno.
   */
  h2FrameGuard?: boolean;
  /**
   * Serves HTTP/1.1 on the same socket: a connection whose first bytes are not the HTTP/2 client preface goes to this
   * handler (the server's admin socket keeps its JSON API beside SPIRE's gRPC API). Default: gRPC only.
   */
  http?: FetchHandler;
  /**
   * Refuse connections whose peer credentials or process cannot be read; default true (the Workload API attests
   * callers by them). The server's admin socket trusts every local caller, as SPIRE's does, and sets false: a caller
   * in another PID namespace is served, and verifyPeerAlive() fails for it.
   */
  requirePeer?: boolean;
  /** Names the API in log lines; default "Workload API". */
  apiName?: string;
}) => Promise<GRPCServerHandle>;

/** A running TCP + TLS server for gRPC and HTTP/1.1. */
export interface GRPCTLSServerHandle extends TLSServerHandle {
  /** Server-streaming and bidirectional calls currently open. */
  openStreams(): number;
}

/**
 * Serves gRPC and HTTP/1.1 on one TCP + TLS listener (SPIRE's server port): ALPN offers `h2` and `http/1.1`; an `h2`
 * connection (or, without ALPN, one that opens with the HTTP/2 preface) carries gRPC, any other goes to `fetch`.
 * The client certificate is requested, never required.
 */
export type ServeGRPCTLS = (opts: {
  hostname: string;
  port: number;
  credentials: TLSCredentials;
  methods: GRPCMethod[];
  /** HTTP/1.1 requests; env carries `peerCertChain` and `remoteAddress` as HTTPServe.https does. */
  fetch: FetchHandler;
  /**
   * Resolves a gRPC connection's caller from its presented chain (DER, leaf first; empty without a certificate), once
   * per connection. A rejection answers every call on that connection with the error's status.
   */
  authenticate: (peer: { chain: Uint8Array[]; address: string }) => Promise<TLSCaller>;
  /** The `grpc-status-details-bin` trailer (a google.rpc.Status) for an error, when it carries details. */
  statusDetails?: (err: ServiceError) => Uint8Array | undefined;
  /** As ServeGRPC's: check HTTP/2 framing before the runtime's HTTP/2 layer reads it (Deno); default false. */
  h2FrameGuard?: boolean;
  /** How long a gRPC connection lives before the server asks the client to reconnect (GOAWAY), ms; default 3 min (SPIRE's). */
  maxConnectionAgeMs?: number;
  logger: Logger;
}) => Promise<GRPCTLSServerHandle>;
