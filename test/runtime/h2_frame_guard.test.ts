/**
 * H2FrameGuard in process, on both runtimes: what it refuses and why, that it never changes a valid client's bytes
 * except for cutting out a GOAWAY, and (fuzzed) that its verdict and output do not depend on how the bytes are split
 * into chunks. @module
 */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { grpcRequestFrames, H2_GOAWAY, H2_PREFACE, H2_SETTINGS, h2Frame } from "../clients/raw_h2.ts";
import { FUZZ_SEED, mutateBytes, Rand } from "../reliability/_fuzz.ts";
import { H2FrameGuard, MAX_FRAME_SIZE } from "../../src/runtime/node/h2_frame_guard.ts";

const FETCH = "/SpiffeWorkloadAPI/FetchX509SVID";
const rst = (s: number) => h2Frame(0x3, 0, s, Buffer.from([0, 0, 0, 8]));
const goaway = (last = 0, code = 0) => {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(last, 0);
  p.writeUInt32BE(code, 4);
  return h2Frame(H2_GOAWAY, 0, 0, p);
};
const settings = (pairs: [number, number][] = []) => {
  const p = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, v], i) => {
    p.writeUInt16BE(id, 6 * i);
    p.writeUInt32BE(v, 6 * i + 2);
  });
  return h2Frame(H2_SETTINGS, 0, 0, p);
};
const ping = () => h2Frame(0x6, 0, 0, Buffer.alloc(8));
const START = Buffer.concat([H2_PREFACE, settings()]);

/** Runs bytes through a fresh guard in the given chunks; returns what it forwarded and its refusal, if any. */
function run(chunks: Uint8Array[]): { out: Buffer; refused?: string } {
  const g = new H2FrameGuard();
  const out: Uint8Array[] = [];
  for (const c of chunks) {
    const v = g.check(c);
    if (v.kind === "pass") out.push(c);
    else if (v.kind === "rewrite") out.push(...v.parts);
    else return { out: Buffer.concat(out), refused: v.reason };
  }
  return { out: Buffer.concat(out) };
}

/** Splits bytes at random points (including 1-byte chunks). */
function split(r: Rand, b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < b.length) {
    const n = r.chance(0.3) ? 1 : 1 + r.int(40);
    out.push(b.subarray(i, i + n));
    i += n;
  }
  return out;
}

test("check() passes a well-behaved gRPC client's bytes unchanged, in one chunk or byte by byte", () => {
  const bytes = Buffer.concat([START, grpcRequestFrames(1, FETCH), ping(), grpcRequestFrames(3, FETCH), rst(1), h2Frame(0x8, 0, 0, Buffer.from([0, 0, 1, 0]))]);
  assert.equal(run([bytes]), { out: bytes });
  assert.equal(run([...bytes].map((x) => Uint8Array.of(x))), { out: bytes });
});

test("check() cuts out a client's GOAWAY and forwards everything around it", () => {
  const before = Buffer.concat([START, grpcRequestFrames(1, FETCH)]);
  const after = grpcRequestFrames(3, FETCH);
  const r = run([Buffer.concat([before, goaway(), after])]);
  assert.equal(r, { out: Buffer.concat([before, after]) });
  // Split inside the GOAWAY's header and payload.
  const all = Buffer.concat([before, goaway(), after]);
  const at = before.length + 4;
  assert.equal(run([all.subarray(0, at), all.subarray(at, at + 7), all.subarray(at + 7)]), { out: Buffer.concat([before, after]) });
});

test("check() refuses input that breaks the protocol, naming the rule", () => {
  const cases: [string, Buffer, RegExp][] = [
    ["random bytes", Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), /^invalid connection preface$/],
    ["no SETTINGS first", Buffer.concat([H2_PREFACE, ping()]), /^connection preface is not followed by a SETTINGS frame$/],
    [
      "frame too long",
      Buffer.concat([START, h2Frame(0x0, 0, 1, Buffer.alloc(MAX_FRAME_SIZE + 1))]),
      /^frame of 16385 bytes exceeds SETTINGS_MAX_FRAME_SIZE 16384$/,
    ],
    ["HEADERS on an even stream", Buffer.concat([START, grpcRequestFrames(2, FETCH)]), /^HEADERS on stream 2: client streams are odd and nonzero$/],
    ["DATA on an idle stream", Buffer.concat([START, h2Frame(0x0, 1, 5, Buffer.alloc(5))]), /^DATA on stream 5 that the client never opened$/],
    ["RST_STREAM on an idle stream", Buffer.concat([START, rst(7)]), /^RST_STREAM on stream 7 that the client never opened$/],
    [
      "RST_STREAM of 5 bytes",
      Buffer.concat([START, grpcRequestFrames(1, FETCH), h2Frame(0x3, 0, 1, Buffer.alloc(5))]),
      /^RST_STREAM frame of 5 bytes \(must be 4\)$/,
    ],
    ["PING of 7 bytes", Buffer.concat([START, h2Frame(0x6, 0, 0, Buffer.alloc(7))]), /^PING frame of 7 bytes \(must be 8\)$/],
    ["GOAWAY on a stream", Buffer.concat([START, h2Frame(H2_GOAWAY, 0, 1, Buffer.alloc(8))]), /^GOAWAY on stream 1$/],
    ["short GOAWAY", Buffer.concat([START, h2Frame(H2_GOAWAY, 0, 0, Buffer.alloc(4))]), /^GOAWAY frame of 4 bytes \(must be at least 8\)$/],
    ["PUSH_PROMISE", Buffer.concat([START, h2Frame(0x5, 4, 1, Buffer.alloc(4))]), /^PUSH_PROMISE from a client$/],
    [
      "SETTINGS of 7 bytes",
      Buffer.concat([H2_PREFACE, h2Frame(H2_SETTINGS, 0, 0, Buffer.alloc(7))]),
      /^SETTINGS frame of 7 bytes \(must be a multiple of 6\)$/,
    ],
    ["SETTINGS_ENABLE_PUSH 2", Buffer.concat([H2_PREFACE, settings([[2, 2]])]), /^SETTINGS_ENABLE_PUSH of 2$/],
    ["SETTINGS_MAX_FRAME_SIZE too small", Buffer.concat([H2_PREFACE, settings([[5, 100]])]), /^SETTINGS_MAX_FRAME_SIZE of 100$/],
    ["CONTINUATION out of place", Buffer.concat([START, h2Frame(0x9, 4, 1, Buffer.alloc(3))]), /^CONTINUATION without an open header block$/],
    ["header block interrupted", Buffer.concat([START, h2Frame(0x1, 0, 1, Buffer.alloc(3)), ping()]), /^header block interrupted before END_HEADERS$/],
    ["padding past the end", Buffer.concat([START, h2Frame(0x1, 0x8 | 0x4, 1, Buffer.from([9, 0, 0]))]), /^HEADERS padding of 9 bytes exceeds the frame$/],
    ["self-dependent stream", Buffer.concat([START, h2Frame(0x1, 0x20 | 0x4, 3, Buffer.from([0, 0, 0, 3, 16, 0x82]))]), /^stream 3 depends on itself$/],
    ["connection WINDOW_UPDATE of 0", Buffer.concat([START, h2Frame(0x8, 0, 0, Buffer.alloc(4))]), /^connection WINDOW_UPDATE of 0$/],
  ];
  for (const [name, bytes, want] of cases) {
    const r = run([bytes]);
    assert.match(r.refused ?? "(passed)", want, name);
  }
});

test("check() gives the same verdict and output however the bytes are chunked (fuzzed)", () => {
  const r = new Rand(FUZZ_SEED + 11);
  const INPUTS = 20_000;
  let refused = 0;
  const frame = (): Buffer => {
    switch (r.int(9)) {
      case 0:
        return grpcRequestFrames(1 + 2 * r.int(6), FETCH);
      case 1:
        return rst(1 + 2 * r.int(6));
      case 2:
        return goaway(r.int(9), r.int(3));
      case 3:
        return ping();
      case 4:
        return settings(r.chance(0.8) ? [[4, 65535]] : [[r.int(9), r.int(1 << 30) * 4]]);
      case 5:
        return h2Frame(0x8, 0, r.int(6), Buffer.from([0, 0, r.int(3), 1]));
      case 6:
        return h2Frame(r.int(12), r.int(256), r.int(9), Buffer.from(r.bytes(r.int(24))));
      case 7:
        return Buffer.from(mutateBytes(r, grpcRequestFrames(1, FETCH)));
      default:
        return h2Frame(0x0, r.int(2), 1 + 2 * r.int(4), Buffer.alloc(r.int(30)));
    }
  };
  const failures: string[] = [];
  for (let n = 0; n < INPUTS; n++) {
    const parts = [r.chance(0.95) ? H2_PREFACE : Buffer.from(mutateBytes(r, H2_PREFACE)), r.chance(0.9) ? settings() : frame()];
    for (let k = r.int(8); k > 0; k--) parts.push(frame());
    const bytes = Buffer.concat(parts);
    const whole = run([bytes]);
    const chunked = run(split(r, bytes));
    if (whole.refused) refused++;
    // A refused connection forwards a prefix of what it would have forwarded whole; a passed one exactly the same.
    const same = whole.refused === chunked.refused && (whole.refused !== undefined ? true : whole.out.equals(chunked.out));
    if (!same && failures.length < 5) {
      failures.push(`${bytes.toString("hex")}: whole ${JSON.stringify(whole.refused)} chunked ${JSON.stringify(chunked.refused)}`);
    }
  }
  console.log(
    `[figure] h2_frame_guard: ${INPUTS} frame sequences in-process (each whole and re-chunked at random), ${refused} refused; differences ${failures.length}`,
  );
  assert.equal(failures, []);
});

test.run();
