/**
 * A Duplex in front of an accepted socket that passes the client's bytes through H2FrameGuard before the HTTP/2 layer
 * reads them, and ends the connection with a GOAWAY when the client breaks the protocol.
 * @module
 */
import type net from "node:net";
import { Duplex } from "node:stream";
import { H2FrameGuard } from "./h2_frame_guard.ts";

const GOAWAY = 0x7;
const PROTOCOL_ERROR = 0x1;
const FRAME_SIZE_ERROR = 0x6;

/**
 * Wraps `sock` for a server HTTP/2 session. `onViolation` learns why a connection was refused (for a log line).
 * The wrapper copies `remoteAddress` (grpc-js reports it as the call's peer) and forwards socket options.
 */
export function guardedSocket(sock: net.Socket, onViolation: (reason: string) => void): Duplex {
  const guard = new H2FrameGuard();
  let refused = false;
  const d: Duplex = new Duplex({
    // The HTTP/2 layer reads through 'data' events (Deno) or a stream wrapper (Node); both honour backpressure here.
    read() {
      sock.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      if (refused || sock.destroyed) return cb();
      sock.write(chunk, (err) => cb(err ?? null));
    },
    final(cb) {
      if (!sock.destroyed) sock.end();
      cb();
    },
    destroy(err, cb) {
      // A refused connection closes itself once its GOAWAY is flushed.
      if (!refused) sock.destroy();
      cb(err);
    },
  });
  const push = (b: Uint8Array) => {
    if (!d.push(b)) sock.pause();
  };
  sock.on("data", (chunk: Buffer) => {
    if (refused) return;
    const v = guard.check(chunk);
    if (v.kind === "pass") push(chunk);
    else if (v.kind === "rewrite") { for (const p of v.parts) push(p); }
    else {
      refused = true;
      onViolation(v.reason);
      // Tell the client why (RFC 9113 §5.4.1), then close; the session sees the end of its stream.
      const payload = Buffer.alloc(8);
      payload.writeUInt32BE(0, 0);
      payload.writeUInt32BE(/SETTINGS_MAX_FRAME_SIZE/.test(v.reason) ? FRAME_SIZE_ERROR : PROTOCOL_ERROR, 4);
      const head = Buffer.from([0, 0, 8, GOAWAY, 0, 0, 0, 0, 0]);
      sock.end(Buffer.concat([head, payload]), () => sock.destroy());
      d.destroy();
    }
  });
  sock.on("end", () => d.push(null));
  sock.on("close", () => d.destroy());
  Object.defineProperty(d, "remoteAddress", { get: () => sock.remoteAddress, configurable: true });
  const proxy = d as unknown as Record<string, unknown>;
  proxy.setNoDelay = (v?: boolean) => (sock.setNoDelay(v), d);
  proxy.setKeepAlive = (e?: boolean, ms?: number) => (sock.setKeepAlive(e, ms), d);
  proxy.setTimeout = (ms: number, cb?: () => void) => (sock.setTimeout(ms, cb), d);
  return d;
}
