/**
 * Tells an HTTP/2 client from an HTTP/1.1 one by the first bytes it sends (RFC 9113 §3.4 client preface), so one
 * unix socket serves both gRPC and a JSON API; and a Duplex that replays the bytes read while deciding.
 * @module
 */
import type net from "node:net";
import { Duplex } from "node:stream";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Reads from a paused socket until its first bytes either are the HTTP/2 client preface or cannot become it, and
 * leaves it paused. Resolves undefined when the socket ends or fails first.
 */
export function sniffH2(sock: net.Socket): Promise<{ h2: boolean; head: Buffer } | undefined> {
  return new Promise((resolve) => {
    let head = Buffer.alloc(0);
    const done = (v: { h2: boolean; head: Buffer } | undefined) => {
      sock.off("data", onData);
      sock.off("end", onEnd);
      sock.off("close", onEnd);
      sock.pause();
      resolve(v);
    };
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const n = Math.min(head.length, PREFACE.length);
      const prefix = head.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (!prefix) done({ h2: false, head });
      else if (head.length >= PREFACE.length) done({ h2: true, head });
    };
    const onEnd = () => done(undefined);
    sock.on("data", onData);
    sock.once("end", onEnd);
    sock.once("close", onEnd);
    sock.resume();
  });
}

/**
 * A Duplex over `sock` whose readable side starts with `head`: the HTTP/1.1 server reads the bytes the sniffer
 * consumed, then the rest of the connection. (Node's HTTP/1.1 parser reads the socket handle directly and would skip
 * bytes given back with unshift().)
 */
export function prefixedSocket(sock: net.Socket, head: Buffer): Duplex {
  const d: Duplex = new Duplex({
    read() {
      sock.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      if (sock.destroyed) return cb();
      sock.write(chunk, (err) => cb(err ?? null));
    },
    final(cb) {
      if (!sock.destroyed) sock.end();
      cb();
    },
    destroy(err, cb) {
      sock.destroy();
      cb(err);
    },
  });
  d.push(head);
  sock.on("data", (chunk: Buffer) => {
    if (!d.push(chunk)) sock.pause();
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
