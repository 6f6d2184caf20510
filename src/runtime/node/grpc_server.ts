/** gRPC over a unix socket whose handlers see the kernel's peer credentials (Node and Deno, via node:net + grpc-js). @module */
import * as grpc from "@grpc/grpc-js";
import { getRequestListener } from "@hono/node-server";
import { chmod, lstat, mkdir, unlink } from "node:fs/promises";
import * as http from "node:http";
import net from "node:net";
import { dirname } from "node:path";
import {
  FailedPreconditionError,
  formatError,
  InvalidArgumentError,
  ServiceError,
  type StatusName,
  UnauthenticatedError,
  UnavailableError,
} from "../../core/errors.ts";
import * as fields from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { CallContext, GRPCMethod, GRPCServerHandle, PeerCredentials, PeerCredReader, ServeGRPC } from "../../core/ports/grpc_server.ts";
import type { FetchHandler } from "../../core/ports/http_server.ts";
import type { ProcFS } from "../../core/ports/proc_fs.ts";
import { guardedSocket } from "./guarded_socket.ts";
import { prefixedSocket, sniffH2 } from "./h2_sniff.ts";
import { NodeProcFS } from "./proc_fs.ts";

export const CODES: Record<StatusName, grpc.status> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  INTERNAL: grpc.status.INTERNAL,
  UNIMPLEMENTED: grpc.status.UNIMPLEMENTED,
};
/** SPIRE's text (pkg/common/peertracker) for a caller that died or whose pid was reused. */
export const ERR_CALLER_GONE = "could not verify existence of the original caller";
const PEER_PREFIX = "wisp-peer:";
const SHUTDOWN_GRACE_MS = 1000;
/** A caller whose credentials were not read: its start time matches no process, so verifyPeerAlive() fails. */
const UNKNOWN_PEER: Conn = { peer: { pid: 0, uid: -1, gid: -1 }, startTime: -1 };

/** One accepted connection: who connected, and the start time that pins the pid to that process. */
interface Conn {
  peer: PeerCredentials;
  startTime: number;
}
type Status = { code: grpc.status; details: string };
type Raw = Buffer;

/** Serves `methods` on a unix socket; see ServeGRPC. The default peer-credential reader is koffi's (Node). */
export const serveGRPC: ServeGRPC = async (opts) => {
  const requirePeer = opts.requirePeer ?? true;
  let peerCred = opts.peerCred;
  if (peerCred === undefined) {
    try {
      peerCred = (await import("./peer_cred.ts")).peerCredReader();
    } catch (err) {
      // Only a socket that serves every local caller alike can do without peer credentials.
      if (requirePeer) throw err;
      const why = formatError(err);
      peerCred = () => {
        throw new UnauthenticatedError(`peer credentials are not available: ${why}`);
      };
    }
  }
  const server = new UnixGRPCServer({
    methods: opts.methods,
    logger: opts.logger,
    peerCred,
    proc: opts.proc ?? new NodeProcFS(),
    frameGuard: opts.h2FrameGuard ?? false,
    http: opts.http,
    requirePeer,
    apiName: opts.apiName ?? "Workload API",
  });
  await server.listen(opts.socketPath, opts.socketMode ?? 0o777);
  return server;
};

class UnixGRPCServer implements GRPCServerHandle {
  readonly #log: Logger;
  readonly #peerCred: PeerCredReader;
  readonly #proc: ProcFS;
  readonly #frameGuard: boolean;
  readonly #requirePeer: boolean;
  readonly #apiName: string;
  readonly #http: http.Server | undefined;
  // Channelz keeps a tracker object and four closures per call for a debug service the agent never serves: with
  // 10,000 open streams that is memory for nothing.
  readonly #grpc = new grpc.Server({ "grpc.enable_channelz": 0 });
  readonly #net: net.Server;
  readonly #injector: grpc.ConnectionInjector;
  // Keyed by the id we put in socket.remoteAddress. grpc-js exposes no socket for a call, but its public getPeer()
  // returns the session socket's remoteAddress, so an id there survives grpc-js refactors; walking private fields
  // (call.call.nextCall.stream.session.socket) would not. Entries go when the socket closes.
  readonly #conns = new Map<string, Conn>();
  readonly #sockets = new Set<net.Socket>();
  readonly #calls = new Set<AbortController>();
  #seq = 0;
  #streams = 0;
  #closing: Promise<void> | undefined;

  constructor(o: {
    methods: GRPCMethod[];
    logger: Logger;
    peerCred: PeerCredReader;
    proc: ProcFS;
    frameGuard: boolean;
    http: FetchHandler | undefined;
    requirePeer: boolean;
    apiName: string;
  }) {
    this.#log = o.logger;
    this.#frameGuard = o.frameGuard;
    this.#requirePeer = o.requirePeer;
    this.#apiName = o.apiName;
    const fetch = o.http;
    if (fetch) this.#http = http.createServer(getRequestListener((req) => fetch(req, {})));
    this.#peerCred = o.peerCred;
    this.#proc = o.proc;
    for (const m of o.methods) this.#register(m);
    this.#injector = this.#grpc.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    // pauseOnConnect: nothing is read before HTTP/2 owns the socket, so no client bytes can be lost while we
    // look up the caller's start time.
    this.#net = net.createServer({ pauseOnConnect: true }, (sock) => void this.#accept(sock));
  }

  async listen(socketPath: string, mode: number): Promise<void> {
    await mkdir(dirname(socketPath), { recursive: true });
    await removeStaleSocket(socketPath);
    await new Promise<void>((resolve, reject) => {
      this.#net.once("error", reject);
      this.#net.listen(socketPath, () => {
        this.#net.off("error", reject);
        resolve();
      });
    });
    this.#net.on("error", (err) => this.#log.error(`${this.#apiName} listener failed`, { [fields.ERROR]: err }));
    await chmod(socketPath, mode);
  }

  openStreams(): number {
    return this.#streams;
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    // net.Server.close() calls back only after every accepted socket is gone, so it is awaited last.
    const listenerClosed = new Promise<void>((resolve) => this.#net.close(() => resolve()));
    for (const ctl of this.#calls) ctl.abort(new UnavailableError("server is shutting down"));
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
    this.#http?.closeAllConnections();
    this.#http?.close();
    await listenerClosed;
  }

  async #accept(sock: net.Socket): Promise<void> {
    sock.on("error", () => {}); // a reset before HTTP/2 takes over must not crash the process
    let peer: PeerCredentials;
    let startTime: number;
    try {
      const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
      if (typeof fd !== "number") throw new UnauthenticatedError("socket has no file descriptor");
      peer = this.#peerCred(fd);
      if (peer.pid <= 0) throw new UnauthenticatedError("caller is not visible in this PID namespace");
      startTime = await this.#proc.startTime(peer.pid);
    } catch (err) {
      if (this.#requirePeer) {
        this.#log.warn(`Rejected ${this.#apiName} connection`, { [fields.ERROR]: formatError(err) });
        sock.destroy();
        return;
      }
      ({ peer, startTime } = UNKNOWN_PEER);
    }
    if (this.#closing !== undefined || sock.destroyed) {
      sock.destroy();
      return;
    }
    const id = `${PEER_PREFIX}${++this.#seq}`;
    Object.defineProperty(sock, "remoteAddress", { value: id, configurable: true });
    this.#conns.set(id, { peer, startTime });
    this.#sockets.add(sock);
    sock.once("close", () => {
      this.#conns.delete(id);
      this.#sockets.delete(sock);
    });
    if (this.#http) {
      const h1 = this.#http;
      const isH2 = await sniffH2(sock);
      if (isH2 === undefined || this.#closing !== undefined) {
        sock.destroy();
        return;
      }
      // Both sides read through a Duplex that replays the sniffed bytes: unshift() back into the socket is lost
      // to Node's HTTP/1.1 parser, and some HTTP/2 clients then get a GOAWAY.
      const replay = prefixedSocket(sock, isH2.head);
      if (!isH2.h2) {
        h1.emit("connection", replay);
        return;
      }
      this.#injector.injectConnection(
        this.#frameGuard
          ? guardedSocket(
            replay as net.Socket,
            (reason) => this.#log.debug(`Refused a ${this.#apiName} connection that broke the HTTP/2 protocol`, { [fields.ERROR]: reason }),
          )
          : replay,
      );
      return;
    }
    if (this.#frameGuard) {
      // Debug, not warn: any local process can open connections, and each refusal would otherwise be a log line.
      this.#injector.injectConnection(
        guardedSocket(sock, (reason) => this.#log.debug("Refused a Workload API connection that broke the HTTP/2 protocol", { [fields.ERROR]: reason })),
      );
    } else {
      this.#injector.injectConnection(sock);
    }
    sock.resume(); // undo pauseOnConnect: HTTP/2 does not start reading a paused socket by itself
  }

  #register(m: GRPCMethod): void {
    const serialize = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    const deserialize = (b: Raw) => b; // decoding happens in the handler so bad bytes answer INVALID_ARGUMENT
    if (m.kind === "unary") {
      this.#grpc.register<Raw, Uint8Array>(
        m.path,
        (call: grpc.ServerUnaryCall<Raw, Uint8Array>, cb: grpc.sendUnaryData<Uint8Array>) => {
          const c = this.#begin(call, m);
          if ("code" in c) return cb(c);
          m.handle(c.req, c.ctx).then(
            (res) => {
              try {
                cb(null, m.encode(res));
              } catch (err) {
                cb(this.#status(err, m.path));
              }
            },
            (err) => cb(this.#status(err, m.path)),
          ).finally(() => this.#calls.delete(c.ctl));
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
          const c = this.#begin(call, m);
          if ("code" in c) return void call.emit("error", c);
          this.#runStream(call, m, c, (send) => m.handle(requestsOf(call, m.decode), c.ctx, send));
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
        const c = this.#begin(call, m);
        if ("code" in c) return void call.emit("error", c);
        this.#runStream(call, m, c, (send) => m.handle(c.req, c.ctx, send));
      },
      serialize,
      deserialize,
      "serverStream",
    );
  }

  /** Runs a streaming handler, ending the call with its outcome. */
  #runStream(
    call: grpc.ServerWritableStream<Raw, Uint8Array> | grpc.ServerDuplexStream<Raw, Uint8Array>,
    m: GRPCMethod,
    c: { ctl: AbortController },
    run: (send: (msg: unknown) => void) => Promise<void>,
  ): void {
    this.#streams++;
    // Every Workload API message carries the full state, so while a slow client has not drained its buffer only
    // the newest message is kept: memory stays bounded however long a client goes without reading.
    let pending: unknown;
    let blocked = false;
    const send = (msg: unknown) => {
      if (call.cancelled || call.writableEnded) return;
      if (blocked) {
        pending = msg;
        return;
      }
      if (!call.write(m.encode(msg))) {
        blocked = true;
        call.once("drain", () => {
          blocked = false;
          const next = pending;
          pending = undefined;
          if (next !== undefined) send(next);
        });
      }
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

  /** Resolves the caller and decodes the request; returns the status to answer with when either fails. */
  #begin(
    call: grpc.ServerUnaryCall<Raw, Uint8Array> | grpc.ServerWritableStream<Raw, Uint8Array> | grpc.ServerDuplexStream<Raw, Uint8Array>,
    m: GRPCMethod,
  ): Status | { req: unknown; ctx: CallContext; ctl: AbortController } {
    // Without required peer credentials, a call whose connection cannot be told (HTTP/2 over the sniffer's Duplex
    // reports no peer address on Node) is served as an unknown local caller.
    const conn = this.#conns.get(call.getPeer()) ?? (this.#requirePeer ? undefined : UNKNOWN_PEER);
    if (conn === undefined) {
      return { code: grpc.status.UNAUTHENTICATED, details: "caller has no peer credentials" };
    }
    let req: unknown;
    // A bidirectional call has no single request: its messages are decoded as they are read.
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
    const ctx = new NodeCallContext(conn, call.metadata, ctl.signal, this.#verifier);
    return { req, ctx, ctl };
  }

  /** Shared by every call's context, so a call holds no closure of its own for it. */
  readonly #verifier = (conn: Conn): Promise<void> => this.#verifyAlive(conn);

  // SPIRE's guard (pkg/common/peertracker): the pid still runs the process that connected when its start time and
  // the owner of /proc/<pid> are unchanged. A failed check poisons the connection: every later call re-checks and
  // fails too, because the recorded start time never changes.
  async #verifyAlive(conn: Conn): Promise<void> {
    let ok = false;
    let cause: unknown;
    try {
      const [start, owner] = await Promise.all([
        this.#proc.startTime(conn.peer.pid),
        this.#proc.ownerOf(conn.peer.pid),
      ]);
      ok = start === conn.startTime && owner.uid === conn.peer.uid && owner.gid === conn.peer.gid;
    } catch (err) {
      cause = err;
    }
    if (!ok) throw new UnauthenticatedError(ERR_CALLER_GONE, cause === undefined ? undefined : { cause });
  }

  #status(err: unknown, method: string): Status {
    if (err instanceof ServiceError) return { code: CODES[err.status] ?? grpc.status.INTERNAL, details: err.message };
    this.#log.error(`${this.#apiName} handler failed`, { [fields.METHOD]: method, [fields.ERROR]: formatError(err) });
    return { code: grpc.status.INTERNAL, details: "internal error" };
  }
}

/**
 * One call's context. A class rather than an object of closures: the methods live on the prototype, so an open
 * stream holds four fields instead of two closures and their scopes.
 */
class NodeCallContext implements CallContext {
  readonly #conn: Conn;
  readonly #md: grpc.Metadata;
  readonly #verify: (conn: Conn) => Promise<void>;
  readonly signal: AbortSignal;

  constructor(conn: Conn, md: grpc.Metadata, signal: AbortSignal, verify: (conn: Conn) => Promise<void>) {
    this.#conn = conn;
    this.#md = md;
    this.signal = signal;
    this.#verify = verify;
  }

  get peer(): PeerCredentials {
    return this.#conn.peer;
  }

  metadata(key: string): string[] {
    return this.#md.get(key).map((v) => (typeof v === "string" ? v : v.toString("base64")));
  }

  verifyPeerAlive(): Promise<void> {
    return this.#verify(this.#conn);
  }
}

/**
 * The client's messages as an async iterable: buffered while the handler is busy, ended by the client's half-close
 * or cancellation; a message that does not decode throws InvalidArgumentError.
 */
export function requestsOf<Req>(call: grpc.ServerDuplexStream<Raw, Uint8Array>, decode: (b: Uint8Array) => Req): AsyncIterable<Req> {
  const queue: Raw[] = [];
  let done = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  call.on("data", (b: Raw) => {
    queue.push(b);
    notify();
  });
  const finish = () => {
    done = true;
    notify();
  };
  call.once("end", finish);
  call.once("cancelled", finish);
  call.once("close", finish);
  call.on("error", finish);
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const b = queue.shift();
        if (b !== undefined) {
          let req: Req;
          try {
            req = decode(b);
          } catch (err) {
            throw new InvalidArgumentError(`failed to decode request: ${formatError(err)}`);
          }
          yield req;
          continue;
        }
        if (done) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}

/** Removes a socket file left by a crashed server; refuses to touch anything else or a socket someone serves on. */
async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return;
    throw err;
  }
  if (!st.isSocket()) throw new FailedPreconditionError(`"${path}" exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(path);
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
  if (live) throw new FailedPreconditionError(`another process is serving on "${path}"`);
  await unlink(path);
}
