/**
 * SPIRE's server port on Node (and Deno's node:tls): one TCP + TLS listener whose ALPN offers `h2` and `http/1.1`.
 * HTTP/2 connections go to grpc-js (through its connection injector, so the TLS socket stays ours and handlers learn
 * the client certificate); HTTP/1.1 connections go to the HTTP app (wisp's own agents, whose undici client offers only
 * `http/1.1`).
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { getRequestListener } from "@hono/node-server";
import { constants as cryptoConstants } from "node:crypto";
import * as http from "node:http";
import type * as net from "node:net";
import * as tls from "node:tls";
import { formatError, ServiceError, UnauthenticatedError, UnavailableError } from "../../core/errors.ts";
import * as fields from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import {
  type CallContext,
  type GRPCMethod,
  type GRPCTLSServerHandle,
  NO_PEER_CREDENTIALS,
  type ServeGRPCTLS,
  type TLSCaller,
} from "../../core/ports/grpc_server.ts";
import type { TLSCredentials } from "../../core/ports/http_server.ts";
import { CODES, requestsOf } from "./grpc_server.ts";
import { guardedSocket } from "./guarded_socket.ts";
import { peerChain } from "./http_serve.ts";
import { sniffH2 } from "./h2_sniff.ts";

const CONN_PREFIX = "wisp-tls:";
const SHUTDOWN_GRACE_MS = 1000;
/** SPIRE's server keepalive MaxConnectionAge (pkg/server/endpoints/endpoints.go). */
const MAX_CONNECTION_AGE_MS = 3 * 60_000;
/** SPIRE's server TLS (pkg/server/endpoints/endpoints.go): TLS ≥ 1.2, no session tickets. */
const NO_TICKETS = cryptoConstants.SSL_OP_NO_TICKET;

type Raw = Buffer;
type Status = { code: grpc.status; details: string; metadata?: grpc.Metadata };
type AnyCall = grpc.ServerUnaryCall<Raw, Uint8Array> | grpc.ServerWritableStream<Raw, Uint8Array> | grpc.ServerDuplexStream<Raw, Uint8Array>;

/** "::ffff:10.0.0.1" → "10.0.0.1", as Go reports IPv4 peers. */
function unmapIPv4(addr: string | undefined): string {
  const a = addr ?? "";
  return a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a;
}

export const serveGRPCTLS: ServeGRPCTLS = async (o) => {
  const s = new TLSGRPCServer(o);
  await s.listen(o.hostname, o.port);
  return s;
};

class TLSGRPCServer implements GRPCTLSServerHandle {
  readonly #o: Parameters<ServeGRPCTLS>[0];
  readonly #log: Logger;
  readonly #grpc: grpc.Server;
  readonly #injector: grpc.ConnectionInjector;
  readonly #http: http.Server;
  readonly #tls: tls.Server;
  /** Each gRPC connection's caller, keyed by the id put in its socket's remoteAddress (see grpc_server.ts). */
  readonly #conns = new Map<string, Promise<TLSCaller>>();
  readonly #sockets = new Set<net.Socket>();
  readonly #calls = new Set<AbortController>();
  #seq = 0;
  #streams = 0;
  #closing: Promise<void> | undefined;
  port = 0;

  constructor(o: Parameters<ServeGRPCTLS>[0]) {
    this.#o = o;
    this.#log = o.logger;
    // SPIRE's keepalive MaxConnectionAge: after it the server sends GOAWAY, open calls finish, and clients reconnect,
    // which spreads agents over the servers behind a load balancer.
    this.#grpc = new grpc.Server({ "grpc.max_connection_age_ms": o.maxConnectionAgeMs ?? MAX_CONNECTION_AGE_MS });
    for (const m of o.methods) this.#register(m);
    this.#injector = this.#grpc.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.#http = http.createServer(getRequestListener((req, env) => {
      const sock = (env as { incoming: http.IncomingMessage }).incoming.socket as tls.TLSSocket;
      return o.fetch(req, { peerCertChain: peerChain(sock), remoteAddress: sock.remoteAddress });
    }));
    this.#http.keepAliveTimeout = 65_000;
    this.#tls = tls.createServer({
      ...this.#context(o.credentials),
      requestCert: true,
      // Client certificates are optional (SPIRE's RequestClientCert) and checked against the live bundle per connection.
      rejectUnauthorized: false,
      ALPNProtocols: ["h2", "http/1.1"],
    });
    this.#tls.on("secureConnection", (sock: tls.TLSSocket) => this.#route(sock));
    this.#tls.on("tlsClientError", () => {}); // a failed handshake concerns only that client
  }

  #context(c: TLSCredentials): tls.SecureContextOptions {
    return { cert: c.certChainPEM, key: c.keyPEM, minVersion: "TLSv1.2", secureOptions: NO_TICKETS };
  }

  async listen(hostname: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#tls.once("error", reject);
      this.#tls.listen(port, hostname, () => {
        this.#tls.off("error", reject);
        resolve();
      });
    }).catch((cause) => {
      throw new UnavailableError(`failed to listen on ${hostname}:${port}`, { cause });
    });
    this.#tls.on("error", (err) => this.#log.error("Server API listener failed", { [fields.ERROR]: err }));
    this.port = (this.#tls.address() as net.AddressInfo).port;
  }

  setCredentials(c: TLSCredentials): void {
    this.#tls.setSecureContext(this.#context(c));
  }

  openStreams(): number {
    return this.#streams;
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const listenerClosed = new Promise<void>((resolve) => this.#tls.close(() => resolve()));
    for (const ctl of this.#calls) ctl.abort(new UnavailableError("server is shutting down"));
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.#grpc.forceShutdown();
        resolve();
      }, SHUTDOWN_GRACE_MS);
      this.#grpc.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
    for (const s of this.#sockets) s.destroy();
    await listenerClosed;
  }

  #route(sock: tls.TLSSocket): void {
    sock.on("error", () => {}); // a reset before a protocol owns the socket must not crash the process
    if (this.#closing !== undefined) return void sock.destroy();
    this.#sockets.add(sock);
    sock.once("close", () => this.#sockets.delete(sock));
    if (sock.alpnProtocol === "h2") return this.#grpcConnection(sock);
    if (sock.alpnProtocol === "http/1.1") return void this.#http.emit("connection", sock);
    // No ALPN: a client speaking HTTP/2 with prior knowledge opens with the connection preface. A TLS socket's bytes
    // reach Node's HTTP/1.1 parser through JS, so unshift() can give back what the sniffer read (unlike a unix socket).
    void sniffH2(sock).then((r) => {
      if (r === undefined) return;
      sock.unshift(r.head);
      if (r.h2) this.#grpcConnection(sock);
      else this.#http.emit("connection", sock);
      sock.resume();
    });
  }

  #grpcConnection(sock: tls.TLSSocket): void {
    const address = unmapIPv4(sock.remoteAddress);
    const caller = this.#o.authenticate({ chain: peerChain(sock), address });
    caller.catch(() => {}); // answered per call
    const id = `${CONN_PREFIX}${++this.#seq}`;
    // grpc-js's getPeer() is "<remoteAddress>[:<remotePort>]" of the session socket: our id with no port names it.
    Object.defineProperty(sock, "remoteAddress", { value: id, configurable: true });
    Object.defineProperty(sock, "remotePort", { value: undefined, configurable: true });
    // node:http2 hands a TLS socket without ALPN to HTTP/1.1; this one sent the HTTP/2 preface.
    if (sock.alpnProtocol !== "h2") Object.defineProperty(sock, "alpnProtocol", { value: "h2", configurable: true });
    this.#conns.set(id, caller);
    sock.once("close", () => this.#conns.delete(id));
    if (this.#o.h2FrameGuard) {
      // Debug, not warn: anyone who reaches the port can open connections, and each refusal would be a log line.
      const guarded = guardedSocket(
        sock,
        (reason) => this.#log.debug("Refused a server API connection that broke the HTTP/2 protocol", { [fields.ERROR]: reason }),
      );
      this.#injector.injectConnection(guarded);
    } else {
      this.#injector.injectConnection(sock);
    }
  }

  #register(m: GRPCMethod): void {
    const serialize = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    const deserialize = (b: Raw) => b;
    if (m.kind === "unary") {
      this.#grpc.register<Raw, Uint8Array>(
        m.path,
        (call: grpc.ServerUnaryCall<Raw, Uint8Array>, cb: grpc.sendUnaryData<Uint8Array>) => {
          void this.#begin(call, m).then(async (c) => {
            if ("code" in c) return cb(c);
            try {
              cb(null, m.encode(await m.handle(c.req, c.ctx)));
            } catch (err) {
              cb(this.#status(err, m.path));
            } finally {
              this.#calls.delete(c.ctl);
            }
          });
        },
        serialize,
        deserialize,
        "unary",
      );
      return;
    }
    if (m.kind === "bidi_stream") {
      this.#grpc.register<Raw, Uint8Array>(
        m.path,
        (call: grpc.ServerDuplexStream<Raw, Uint8Array>) => {
          // Listening starts now so no message is lost while the caller is resolved.
          const requests = requestsOf(call, m.decode);
          void this.#begin(call, m).then((c) => {
            if ("code" in c) return void call.emit("error", c);
            this.#runStream(call, m, c, (send) => m.handle(requests, c.ctx, send));
          });
        },
        serialize,
        deserialize,
        "bidi",
      );
      return;
    }
    this.#grpc.register<Raw, Uint8Array>(
      m.path,
      (call: grpc.ServerWritableStream<Raw, Uint8Array>) => {
        void this.#begin(call, m).then((c) => {
          if ("code" in c) return void call.emit("error", c);
          this.#runStream(call, m, c, (send) => m.handle(c.req, c.ctx, send));
        });
      },
      serialize,
      deserialize,
      "serverStream",
    );
  }

  /** Every message is delivered (paged answers such as SyncAuthorizedEntries need them all, in order). */
  #runStream(
    call: grpc.ServerWritableStream<Raw, Uint8Array> | grpc.ServerDuplexStream<Raw, Uint8Array>,
    m: GRPCMethod,
    c: { ctl: AbortController },
    run: (send: (msg: unknown) => void) => Promise<void>,
  ): void {
    this.#streams++;
    const send = (msg: unknown) => {
      if (call.cancelled || call.writableEnded) return;
      call.write(m.encode(msg));
    };
    run(send).then(
      () => {
        if (call.cancelled || call.writableEnded) return;
        if (c.ctl.signal.reason instanceof UnavailableError) call.emit("error", this.#status(c.ctl.signal.reason, m.path));
        else call.end();
      },
      (err) => {
        if (call.cancelled || call.writableEnded) return;
        call.emit("error", this.#status(err, m.path));
      },
    ).finally(() => {
      this.#streams--;
      this.#calls.delete(c.ctl);
    });
  }

  /** Resolves the connection's caller and decodes the request; returns the status to answer with when either fails. */
  async #begin(call: AnyCall, m: GRPCMethod): Promise<Status | { req: unknown; ctx: CallContext; ctl: AbortController }> {
    const conn = this.#conns.get(call.getPeer());
    if (conn === undefined) return { code: grpc.status.UNAUTHENTICATED, details: "caller is unknown" };
    let caller: TLSCaller;
    try {
      caller = await conn;
    } catch (err) {
      return this.#status(err, m.path);
    }
    let req: unknown;
    if (m.kind !== "bidi_stream") {
      try {
        req = m.decode((call as grpc.ServerUnaryCall<Raw, Uint8Array>).request);
      } catch (err) {
        return { code: grpc.status.INVALID_ARGUMENT, details: `failed to decode request: ${formatError(err)}` };
      }
    }
    const ctl = new AbortController();
    if (this.#closing !== undefined) ctl.abort(new UnavailableError("server is shutting down"));
    this.#calls.add(ctl);
    (call as NodeJS.EventEmitter).once("cancelled", () => ctl.abort(new UnavailableError("call cancelled by the client")));
    if ((call as { cancelled?: boolean }).cancelled) ctl.abort(new UnavailableError("call cancelled by the client"));
    const ctx: CallContext = {
      peer: NO_PEER_CREDENTIALS,
      caller,
      metadata: (key) => call.metadata.get(key).map((v) => (typeof v === "string" ? v : v.toString("base64"))),
      signal: ctl.signal,
      verifyPeerAlive: () => Promise.reject(new UnauthenticatedError("caller has no peer credentials")),
    };
    return { req, ctx, ctl };
  }

  #status(err: unknown, method: string): Status {
    if (err instanceof ServiceError) {
      const out: Status = { code: CODES[err.status] ?? grpc.status.INTERNAL, details: err.message };
      const details = this.#o.statusDetails?.(err);
      if (details) {
        out.metadata = new grpc.Metadata();
        out.metadata.set("grpc-status-details-bin", Buffer.from(details.buffer, details.byteOffset, details.byteLength));
      }
      return out;
    }
    this.#log.error("Server API handler failed", { [fields.METHOD]: method, [fields.ERROR]: formatError(err) });
    return { code: grpc.status.INTERNAL, details: "internal error" };
  }
}
