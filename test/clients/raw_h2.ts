/** Raw HTTP/2 for bad-input tests: hand-made frames, raw socket exchanges and node:http2 calls with any headers or body. @module */
import * as http2 from "node:http2";
import * as net from "node:net";

export const SECURITY_HEADER = "workload.spiffe.io";

/** The client connection preface (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
export const H2_DATA = 0x0;
export const H2_HEADERS = 0x1;
export const H2_SETTINGS = 0x4;
export const H2_GOAWAY = 0x7;

/** One HTTP/2 frame. */
export function h2Frame(type: number, flags: number, streamID: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamID & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

function hpackInt(value: number, prefixBits: number, firstByte: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByte | value]);
  const out = [firstByte | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

/** An HPACK block of "literal header field without indexing, new name" entries, no Huffman coding (RFC 7541 §6.2.2). */
export function hpackLiterals(headers: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    parts.push(Buffer.from([0x00]));
    for (const s of [name, value]) {
      const b = Buffer.from(s, "latin1");
      parts.push(hpackInt(b.length, 7, 0x00), b);
    }
  }
  return Buffer.concat(parts);
}

/** HEADERS + DATA(END_STREAM) frames of one gRPC request with an empty message, as a raw client would send them. */
export function grpcRequestFrames(streamID: number, path: string, extra: [string, string][] = [[SECURITY_HEADER, "true"]]): Buffer {
  const block = hpackLiterals([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "localhost"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ...extra,
  ]);
  return Buffer.concat([h2Frame(H2_HEADERS, 0x4, streamID, block), h2Frame(H2_DATA, 0x1, streamID, Buffer.alloc(5))]);
}

/** Frame types found at the start of bytes a server sent (stops at the first incomplete frame). */
export function h2FrameTypes(bytes: Buffer): number[] {
  const types: number[] = [];
  let i = 0;
  while (i + 9 <= bytes.length) {
    types.push(bytes[i + 3]!);
    i += 9 + bytes.readUIntBE(i, 3);
  }
  return types;
}

/**
 * Writes bytes on a fresh socket connection (then half-closes it when `halfClose`); reports what came back and
 * whether the agent closed the connection within `waitMs`.
 */
export function rawExchange(
  socketPath: string,
  data: Buffer,
  o: { waitMs?: number; halfClose?: boolean } = {},
): Promise<{ got: Buffer; closedByAgent: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    const chunks: Buffer[] = [];
    let settled = false;
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("error", () => {});
    const done = (closedByAgent: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      s.destroy();
      resolve({ got: Buffer.concat(chunks), closedByAgent });
    };
    const t = setTimeout(() => done(false), o.waitMs ?? 3000);
    s.on("end", () => done(true));
    s.on("close", () => done(true));
    s.write(data);
    if (o.halfClose) s.end();
  });
}

/** One gRPC call made with node:http2 directly, so headers and bodies can be anything. */
export function h2Call(
  socketPath: string,
  path: string,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer,
  endStream = true,
): Promise<{ status?: string; message?: string; dataBytes: number }> {
  return new Promise((resolve) => {
    const session = http2.connect("http://localhost", { createConnection: () => net.connect(socketPath) });
    session.on("error", () => {});
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
    const out: { status?: string; message?: string; dataBytes: number } = { dataBytes: 0 };
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) out.status = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) out.message = decodeURIComponent(String(h["grpc-message"]));
    };
    req.on("response", take);
    req.on("trailers", take);
    req.on("data", (d: Buffer) => (out.dataBytes += d.length));
    req.on("error", () => {});
    const finish = () => {
      session.destroy();
      resolve(out);
    };
    req.on("close", finish);
    if (endStream) req.end(body);
    else {
      req.write(body);
      // The rest of the message never comes: the client goes away instead.
      setTimeout(finish, 500);
    }
  });
}

export const H2_RST_STREAM = 0x3;
export const H2_PING = 0x6;
export const H2_WINDOW_UPDATE = 0x8;
export const H2_CONTINUATION = 0x9;

/** A client start that never runs out of flow-control window: preface, SETTINGS (stream window 2^30), connection WINDOW_UPDATE. */
export function h2ClientStart(): Buffer {
  const settings = Buffer.alloc(6);
  settings.writeUInt16BE(0x4, 0);
  settings.writeUInt32BE(1 << 30, 2);
  const inc = Buffer.alloc(4);
  inc.writeUInt32BE(1 << 30, 0);
  return Buffer.concat([H2_PREFACE, h2Frame(H2_SETTINGS, 0, 0, settings), h2Frame(H2_WINDOW_UPDATE, 0, 0, inc)]);
}

/** HEADERS (+ CONTINUATION when the block exceeds `maxFrame`) carrying `block`. */
export function h2HeaderFrames(streamID: number, block: Buffer, endStream: boolean, maxFrame = 16_384): Buffer {
  const out: Buffer[] = [];
  for (let i = 0, first = true; first || i < block.length; first = false) {
    const part = block.subarray(i, i + maxFrame);
    i += part.length;
    const last = i >= block.length;
    const flags = (last ? 0x4 : 0) | (first && endStream ? 0x1 : 0);
    out.push(h2Frame(first ? H2_HEADERS : H2_CONTINUATION, flags, streamID, part));
  }
  return Buffer.concat(out);
}

/** How the server ended (or answered) one stream, as seen in its frames. */
export type StreamOutcome = "trailers" | "data" | "end" | `rst:${number}`;

/**
 * A raw client connection that records every byte it sends (to report an input) and reads the server's frames:
 * per-stream outcomes, PING ACKs, GOAWAY and the connection's end. It ACKs the server's SETTINGS and PINGs.
 */
export class RawH2Conn {
  readonly sent: Buffer[] = [];
  closed = false;
  goaway: { lastStreamID: number; code: number } | undefined;
  readonly #sock: net.Socket;
  readonly #outcomes = new Map<number, StreamOutcome>();
  readonly #pingAcks = new Set<string>();
  readonly #waiters = new Set<() => void>();
  #buf: Buffer = Buffer.alloc(0);

  constructor(socketPath: string) {
    this.#sock = net.connect(socketPath);
    this.#sock.on("error", () => {});
    this.#sock.on("data", (d: Buffer) => this.#read(d));
    this.#sock.on("close", () => {
      this.closed = true;
      this.#wake();
    });
  }

  write(b: Buffer): void {
    if (this.#sock.destroyed) return;
    this.sent.push(b);
    this.#sock.write(b);
  }

  /** Half-closes: the client says it sends nothing more. */
  end(): void {
    this.#sock.end();
  }

  destroy(): void {
    this.#sock.destroy();
  }

  /** The agent ended the connection: it sent GOAWAY or closed it. */
  over(): boolean {
    return this.closed || this.goaway !== undefined;
  }

  outcome(streamID: number): StreamOutcome | undefined {
    return this.#outcomes.get(streamID);
  }

  pingAcked(opaque: Buffer): boolean {
    return this.#pingAcks.has(opaque.toString("hex"));
  }

  /** Resolves true as soon as `pred()` holds (checked on every frame and on close), false after `ms`. */
  until(pred: () => boolean, ms: number): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!pred()) return;
        clearTimeout(t);
        this.#waiters.delete(check);
        resolve(true);
      };
      const t = setTimeout(() => {
        this.#waiters.delete(check);
        resolve(pred());
      }, ms);
      this.#waiters.add(check);
    });
  }

  /** Everything sent so far, as hex (the input to report). */
  hex(max = 4000): string {
    const h = Buffer.concat(this.sent).toString("hex");
    return h.length > max ? `${h.slice(0, max)}…(${h.length / 2} bytes)` : h;
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  #read(d: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
    while (this.#buf.length >= 9) {
      const len = this.#buf.readUIntBE(0, 3);
      if (this.#buf.length < 9 + len) break;
      const type = this.#buf[3]!;
      const flags = this.#buf[4]!;
      const stream = this.#buf.readUInt32BE(5) & 0x7fffffff;
      const payload = this.#buf.subarray(9, 9 + len);
      this.#buf = this.#buf.subarray(9 + len);
      if (type === H2_DATA) {
        if (flags & 0x1) this.#outcomes.set(stream, "end");
        else if (len > 0 && !this.#outcomes.has(stream)) this.#outcomes.set(stream, "data");
      } else if (type === H2_HEADERS && flags & 0x1) {
        this.#outcomes.set(stream, "trailers");
      } else if (type === H2_RST_STREAM && len === 4) {
        this.#outcomes.set(stream, `rst:${payload.readUInt32BE(0)}`);
      } else if (type === H2_SETTINGS && !(flags & 0x1)) {
        this.write(h2Frame(H2_SETTINGS, 0x1, 0));
      } else if (type === H2_PING && len === 8) {
        if (flags & 0x1) this.#pingAcks.add(payload.toString("hex"));
        else this.write(h2Frame(H2_PING, 0x1, 0, Buffer.from(payload)));
      } else if (type === H2_GOAWAY && len >= 8) {
        this.goaway = { lastStreamID: payload.readUInt32BE(0) & 0x7fffffff, code: payload.readUInt32BE(4) };
      }
    }
    this.#wake();
  }
}
