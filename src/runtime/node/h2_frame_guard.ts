/**
 * A frame-level HTTP/2 validator for the bytes a Workload API client sends, run before the runtime's HTTP/2 layer
 * sees them: a connection that breaks the protocol is ended here, so malformed input never reaches nghttp2.
 *
 * Why hand-written: Deno 2.9.6's node:http2 drives nghttp2 from Rust and aborts the whole process on malformed or
 * unusual client traffic (`find_stream_on_goaway_func: Assertion 'stream->closed_next == NULL' failed`, denoland/deno
 * #36788), so any local process could kill an agent on Deno. No npm package checks HTTP/2 framing without also being a
 * whole HTTP/2 implementation (a second parser of HPACK and streams would be the opposite of small). Only the 9-byte
 * frame headers and a few control-frame payloads are read (RFC 9113 §4.1, §6); headers, HPACK and DATA pass through
 * untouched to nghttp2, which still validates everything else.
 * @module
 */

/** The client connection preface (RFC 9113 §3.4). */
const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const HEADER_LEN = 9;
/** SETTINGS_MAX_FRAME_SIZE the server advertises: the default, which grpc-js and Node do not change (RFC 9113 §6.5.2). */
export const MAX_FRAME_SIZE = 16_384;

const DATA = 0x0;
const HEADERS = 0x1;
const PRIORITY = 0x2;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PUSH_PROMISE = 0x5;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;

const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY_FLAG = 0x20;

/** What the guard does with one chunk of client bytes. */
export type GuardVerdict =
  /** Forward `chunk` unchanged (the common case: no copy). */
  | { kind: "pass" }
  /** Forward these parts instead of the chunk (a client GOAWAY was cut out). */
  | { kind: "rewrite"; parts: Uint8Array[] }
  /** The client broke the protocol: forward nothing more and end the connection. */
  | { kind: "violation"; reason: string };

/**
 * Incremental validator of one connection's client-to-server bytes. Feed every chunk in order to `check()`.
 *
 * Rules (RFC 9113): the exact preface, then a SETTINGS frame; every frame no longer than SETTINGS_MAX_FRAME_SIZE;
 * stream ids of the right kind (0 for connection frames, odd and client-initiated for stream frames, new streams in
 * increasing order, no frame on a stream never opened); fixed lengths of PRIORITY, RST_STREAM, PING, WINDOW_UPDATE,
 * SETTINGS and GOAWAY; valid padding; SETTINGS values in range; CONTINUATION only right after its HEADERS; no
 * PUSH_PROMISE from a client. A client's GOAWAY is not forwarded: it only says the client opens no more streams and
 * accepts no pushes, and the server's reaction to it (a GOAWAY of its own that closes the remaining streams) is the
 * path on which Deno's nghttp2 binding aborts. The client closes its socket when done, which ends the session.
 */
export class H2FrameGuard {
  #prefaceAt = 0;
  #sawSettings = false;
  /** Bytes of the current frame header collected so far (headers can straddle chunks). */
  readonly #head = new Uint8Array(HEADER_LEN);
  #headLen = 0;
  /** Payload bytes of the current frame still to come. */
  #remaining = 0;
  /** Payload of the current frame kept for inspection (control frames and a padded frame's first byte). */
  #keep: Uint8Array | undefined;
  #keepLen = 0;
  #type = 0;
  #flags = 0;
  #stream = 0;
  #length = 0;
  /** Stream id whose header block is still open (waiting for CONTINUATION), or 0. */
  #continuation = 0;
  #highestStream = 0;
  #dropping = false;
  /** Client bytes of an incomplete frame header, not forwarded yet. */
  #held: Uint8Array | undefined;
  #failed: string | undefined;

  /** Why the connection was refused, once it was. */
  get failure(): string | undefined {
    return this.#failed;
  }

  check(chunk: Uint8Array): GuardVerdict {
    if (this.#failed !== undefined) return { kind: "violation", reason: this.#failed };
    // What to forward when it is not simply `chunk`: bytes of a frame header split across chunks are held back until
    // the header is complete (so a GOAWAY can be cut out whole), and a GOAWAY's bytes are skipped.
    let out: Uint8Array[] | undefined;
    let emitFrom = 0; // first byte of `chunk` not yet forwarded or skipped
    const skip = (from: number, to: number) => {
      out ??= [];
      if (from > emitFrom) out.push(chunk.subarray(emitFrom, from));
      emitFrom = to;
    };
    let held = this.#held;
    this.#held = undefined;
    if (held !== undefined) out = [];
    let headStart = 0;
    let i = 0;
    const violation = (reason: string): GuardVerdict => {
      this.#failed = reason;
      return { kind: "violation", reason };
    };
    while (i < chunk.length) {
      if (this.#prefaceAt < PREFACE.length) {
        const n = Math.min(PREFACE.length - this.#prefaceAt, chunk.length - i);
        for (let k = 0; k < n; k++) {
          if (chunk[i + k] !== PREFACE[this.#prefaceAt + k]) return violation("invalid connection preface");
        }
        this.#prefaceAt += n;
        i += n;
        continue;
      }
      if (this.#remaining === 0 && this.#headLen < HEADER_LEN) {
        if (this.#headLen === 0) headStart = i;
        const n = Math.min(HEADER_LEN - this.#headLen, chunk.length - i);
        this.#head.set(chunk.subarray(i, i + n), this.#headLen);
        this.#headLen += n;
        i += n;
        if (this.#headLen < HEADER_LEN) break;
        const problem = this.#onHeader();
        if (problem !== undefined) return violation(problem);
        if (this.#type === GOAWAY) {
          this.#dropping = true;
          skip(held !== undefined ? 0 : headStart, i);
        } else if (held !== undefined) {
          out!.push(held);
        }
        held = undefined;
        if (this.#remaining === 0) {
          const p = this.#onPayload();
          if (p !== undefined) return violation(p);
          this.#endFrame();
        }
        continue;
      }
      // Payload bytes of the current frame.
      const n = Math.min(this.#remaining, chunk.length - i);
      if (this.#keep !== undefined) {
        const want = Math.min(n, this.#keep.length - this.#keepLen);
        this.#keep.set(chunk.subarray(i, i + want), this.#keepLen);
        this.#keepLen += want;
      }
      if (this.#dropping) skip(i, i + n);
      this.#remaining -= n;
      i += n;
      if (this.#remaining === 0) {
        const p = this.#onPayload();
        if (p !== undefined) return violation(p);
        this.#endFrame();
      }
    }
    if (this.#headLen > 0 && this.#headLen < HEADER_LEN && this.#prefaceAt === PREFACE.length) {
      // The chunk ends inside a frame header: hold those bytes back until the header is complete.
      const from = held !== undefined ? 0 : headStart;
      skip(from, chunk.length);
      this.#held = held === undefined ? Uint8Array.from(chunk.subarray(from)) : concat(held, chunk.subarray(from));
    }
    if (out === undefined) return { kind: "pass" };
    if (emitFrom < chunk.length) out.push(chunk.subarray(emitFrom));
    return { kind: "rewrite", parts: out };
  }

  #endFrame(): void {
    this.#dropping = false;
    this.#headLen = 0;
    this.#keep = undefined;
    this.#keepLen = 0;
  }

  /** Checks a complete frame header; returns the violation, if any. */
  #onHeader(): string | undefined {
    const h = this.#head;
    const length = (h[0]! << 16) | (h[1]! << 8) | h[2]!;
    const type = h[3]!;
    const flags = h[4]!;
    const stream = ((h[5]! & 0x7f) << 24 | (h[6]! << 16) | (h[7]! << 8) | h[8]!) >>> 0;
    this.#length = length;
    this.#type = type;
    this.#flags = flags;
    this.#stream = stream;
    this.#remaining = length;
    if (length > MAX_FRAME_SIZE) return `frame of ${length} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${MAX_FRAME_SIZE}`;
    if (!this.#sawSettings) {
      if (type !== SETTINGS || (flags & ACK) !== 0) return "connection preface is not followed by a SETTINGS frame";
    }
    if (this.#continuation !== 0) {
      if (type !== CONTINUATION || stream !== this.#continuation) return "header block interrupted before END_HEADERS";
    } else if (type === CONTINUATION) {
      return "CONTINUATION without an open header block";
    }
    switch (type) {
      case DATA:
        if (stream === 0 || stream % 2 === 0 || stream > this.#highestStream) return `DATA on stream ${stream} that the client never opened`;
        if (flags & PADDED) return this.#keepBytes(1, "padded DATA frame without a pad length");
        return undefined;
      case HEADERS:
        if (stream === 0 || stream % 2 === 0) return `HEADERS on stream ${stream}: client streams are odd and nonzero`;
        if (stream > this.#highestStream) this.#highestStream = stream;
        if ((flags & END_HEADERS) === 0) this.#continuation = stream;
        if (flags & (PADDED | PRIORITY_FLAG)) {
          const need = (flags & PADDED ? 1 : 0) + (flags & PRIORITY_FLAG ? 5 : 0);
          return this.#keepBytes(need, "HEADERS frame shorter than its padding and priority fields");
        }
        return undefined;
      case PRIORITY:
        if (stream === 0) return "PRIORITY on stream 0";
        if (length !== 5) return `PRIORITY frame of ${length} bytes (must be 5)`;
        return undefined;
      case RST_STREAM:
        if (stream === 0 || stream % 2 === 0 || stream > this.#highestStream) return `RST_STREAM on stream ${stream} that the client never opened`;
        if (length !== 4) return `RST_STREAM frame of ${length} bytes (must be 4)`;
        return undefined;
      case SETTINGS:
        if (stream !== 0) return `SETTINGS on stream ${stream}`;
        if (flags & ACK) return length === 0 ? undefined : "SETTINGS ACK with a payload";
        if (length % 6 !== 0) return `SETTINGS frame of ${length} bytes (must be a multiple of 6)`;
        this.#sawSettings = true;
        return this.#keepBytes(length, "");
      case PUSH_PROMISE:
        return "PUSH_PROMISE from a client";
      case PING:
        if (stream !== 0) return `PING on stream ${stream}`;
        if (length !== 8) return `PING frame of ${length} bytes (must be 8)`;
        return undefined;
      case GOAWAY:
        if (stream !== 0) return `GOAWAY on stream ${stream}`;
        if (length < 8) return `GOAWAY frame of ${length} bytes (must be at least 8)`;
        return undefined;
      case WINDOW_UPDATE:
        if (length !== 4) return `WINDOW_UPDATE frame of ${length} bytes (must be 4)`;
        if (stream % 2 === 0 && stream !== 0) return `WINDOW_UPDATE on stream ${stream} that the client never opened`;
        if (stream > this.#highestStream) return `WINDOW_UPDATE on stream ${stream} that the client never opened`;
        return this.#keepBytes(4, "");
      case CONTINUATION:
        if ((flags & END_HEADERS) !== 0) this.#continuation = 0;
        return undefined;
      default:
        // Unknown frame types are ignored by the receiver (RFC 9113 §4.1); their length is already bounded.
        return undefined;
    }
  }

  #keepBytes(n: number, tooShort: string): string | undefined {
    if (n > this.#length) return tooShort;
    this.#keep = new Uint8Array(n);
    this.#keepLen = 0;
    return undefined;
  }

  /** Checks the kept payload bytes once the frame is complete. */
  #onPayload(): string | undefined {
    const p = this.#keep;
    switch (this.#type) {
      case DATA:
      case HEADERS: {
        if (p === undefined) return undefined;
        const padded = (this.#flags & PADDED) !== 0;
        const pad = padded ? p[0]! : 0;
        const fixed = (padded ? 1 : 0) + (this.#flags & PRIORITY_FLAG ? 5 : 0);
        if (fixed + pad > this.#length) return `${this.#type === DATA ? "DATA" : "HEADERS"} padding of ${pad} bytes exceeds the frame`;
        if (this.#flags & PRIORITY_FLAG) {
          const off = padded ? 1 : 0;
          const dep = ((p[off]! & 0x7f) << 24 | (p[off + 1]! << 16) | (p[off + 2]! << 8) | p[off + 3]!) >>> 0;
          if (dep === this.#stream) return `stream ${this.#stream} depends on itself`;
        }
        return undefined;
      }
      case SETTINGS: {
        if (p === undefined) return undefined;
        const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
        for (let o = 0; o + 6 <= p.length; o += 6) {
          const id = v.getUint16(o);
          const value = v.getUint32(o + 2);
          if (id === 0x2 && value > 1) return `SETTINGS_ENABLE_PUSH of ${value}`;
          if (id === 0x4 && value > 0x7fffffff) return `SETTINGS_INITIAL_WINDOW_SIZE of ${value}`;
          if (id === 0x5 && (value < 16_384 || value > 0xffffff)) return `SETTINGS_MAX_FRAME_SIZE of ${value}`;
          if (id === 0x8 && value > 1) return `SETTINGS_ENABLE_CONNECT_PROTOCOL of ${value}`;
        }
        return undefined;
      }
      case WINDOW_UPDATE: {
        if (p === undefined || this.#stream !== 0) return undefined;
        const inc = ((p[0]! & 0x7f) << 24 | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
        return inc === 0 ? "connection WINDOW_UPDATE of 0" : undefined;
      }
      default:
        return undefined;
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
