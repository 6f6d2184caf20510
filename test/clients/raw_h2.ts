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
    [":method", "POST"], [":scheme", "http"], [":path", path], [":authority", "localhost"],
    ["content-type", "application/grpc"], ["te", "trailers"], ...extra,
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
export function rawExchange(socketPath: string, data: Buffer, o: { waitMs?: number; halfClose?: boolean } = {}): Promise<{ got: Buffer; closedByAgent: boolean }> {
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
export function h2Call(socketPath: string, path: string, headers: http2.OutgoingHttpHeaders, body: Buffer, endStream = true): Promise<{ status?: string; message?: string; dataBytes: number }> {
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
