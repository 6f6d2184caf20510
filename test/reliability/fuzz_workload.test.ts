/**
 * Fuzz of a running agent's Workload API socket with a per-input oracle. Every input goes through the real Unix
 * socket of a real agent process, written by a raw HTTP/2 client (hand-made frames, so nothing is normalised by a
 * client library):
 *  - grpc_calls: gRPC calls with random or mutated paths, pseudo-headers, content types, security headers, timeouts,
 *    HPACK blocks, gRPC length prefixes and protobuf bodies, bodies split over frames, cancelled mid-call;
 *  - h2_frames: connections of random and mutated HTTP/2 frames (huge lengths, bad SETTINGS, CONTINUATION and
 *    GOAWAY/RST_STREAM sequences), each followed by a PING probe;
 *  - abrupt_close: connections cut mid-call.
 * Oracle: each call must end (a gRPC status, a first message of a stream, RST_STREAM) or the connection must close
 * within DEADLINE_MS; each raw connection must answer the PING probe or close (a connection left inside a partial
 * frame must close once the client half-closes). A hang is a failure reported with the input, hex. Meanwhile a
 * well-behaved grpc-js client (its own Node process) holds a FetchX509SVID stream and keeps making unary and stream
 * calls, SVIDs rotate (TTL 4 s) and entries are created and deleted: the held stream must see every rotation and
 * entry change, and every call of the well-behaved client must succeed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import {
  H2_GOAWAY,
  H2_PING,
  H2_PREFACE,
  H2_RST_STREAM,
  H2_SETTINGS,
  h2ClientStart,
  h2Frame,
  h2HeaderFrames,
  hpackLiterals,
  RawH2Conn,
  SECURITY_HEADER,
} from "../clients/raw_h2.ts";
import { createEntry, deleteEntry } from "../integration/_clients.ts";
import { type Cluster, joinToken, newCluster, NODE, ROOT, startAgent, startServer, TEST_RUNTIME, waitFor } from "../integration/_harness.ts";
import { FUZZ_SEED, mutateBytes, mutateString, Rand } from "./_fuzz.ts";

const CALL_CONNECTIONS = 1_500;
const RAW_CONNECTIONS = 1_500;
const CONCURRENCY = 16;
const DEADLINE_MS = 5_000;
const ID = "spiffe://example.org/fuzzer";
const METHODS = ["FetchX509SVID", "FetchX509Bundles", "FetchJWTSVID", "FetchJWTBundles", "ValidateJWTSVID", "FetchWITSVID"].map((m) =>
  `/SpiffeWorkloadAPI/${m}`
);

let c: Cluster;
let setupError: unknown;

test.before(async () => {
  try {
    c = await newCluster();
    await startServer(c);
    await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
    // SVIDs that live 4 s rotate about every 2 s: the held stream must keep seeing them during the fuzz.
    await createEntry(c, { spiffeID: ID, selector: "unix:uid:0", ttl: 4 });
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  await c?.cleanup();
});

/** The well-behaved client (test/reliability/_steady_client.ts), always on Node, and the lines it printed. */
class SteadyClient {
  readonly child: ChildProcess;
  readonly lines: { ev: string; ids?: string[]; serials?: string[]; ok?: boolean; ms?: number; error?: string; code?: number; details?: string }[] = [];
  #partial = "";
  stderr = "";
  constructor(socketPath: string) {
    this.child = spawn(NODE, ["--import", "tsx", `${ROOT}/test/reliability/_steady_client.ts`, socketPath], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout!.on("data", (d: Buffer) => {
      const parts = (this.#partial + d.toString()).split("\n");
      this.#partial = parts.pop() ?? "";
      for (const p of parts) if (p.trim()) this.lines.push(JSON.parse(p));
    });
    this.child.stderr!.on("data", (d) => (this.stderr += d));
  }
  updates() {
    return this.lines.filter((l) => l.ev === "x509");
  }
  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(t);
  }
}

const str = (field: number, s: string) => {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([(field << 3) | 2, b.length & 0x7f]), b]);
};
const BODIES = [
  Buffer.alloc(0),
  str(1, "aud"),
  Buffer.concat([str(1, "a"), str(1, "b"), str(2, ID)]),
  Buffer.concat([str(1, "aud"), str(2, "eyJhbGciOiJFUzI1NiJ9.e30.c2ln")]),
];

/** A gRPC message frame around `msg`, sometimes with a wrong compressed flag or length prefix. */
function grpcMessage(r: Rand, msg: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head[0] = r.chance(0.9) ? 0 : r.pick([1, 2, 0x80, 0xff]);
  head.writeUInt32BE(r.chance(0.85) ? msg.length : r.pick([0, msg.length + 1, msg.length + 1000, 0xffffffff, 1 << 24, r.int(1 << 20)]), 1);
  return Buffer.concat([head, msg]);
}

/** The header block of one call: mostly valid, sometimes with broken pseudo-headers, names, values or HPACK. */
function callHeaders(r: Rand): Buffer {
  const path = r.chance(0.85) ? r.pick(METHODS) : mutateString(r, r.pick(METHODS));
  let h: [string, string][] = [[":method", r.chance(0.92) ? "POST" : r.pick(["GET", "PUT", "", "post"])], [":scheme", "http"], [":path", path], [
    ":authority",
    "localhost",
  ]];
  if (r.chance(0.9)) h.push(["content-type", r.chance(0.85) ? "application/grpc" : mutateString(r, "application/grpc+proto")]);
  if (r.chance(0.9)) h.push(["te", "trailers"]);
  if (r.chance(0.85)) h.push([SECURITY_HEADER, r.chance(0.8) ? "true" : r.pick(["false", "TRUE", "", "1", mutateString(r, "true")])]);
  if (r.chance(0.1)) {
    h.push([r.pick(["grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "x-junk"]), mutateString(r, r.pick(["1S", "100m", "gzip", "identity", "x"]))]);
  }
  if (r.chance(0.02)) h.push(["x-big", "v".repeat(r.pick([9_000, 20_000, 70_000]))]);
  if (r.chance(0.05)) {
    // Protocol errors nghttp2 must answer with RST_STREAM: pseudo-header after a regular one, missing or repeated
    // pseudo-headers, upper-case names, CR/LF/NUL in values, a connection-specific header.
    switch (r.int(6)) {
      case 0:
        h = [...h.slice(4), ...h.slice(0, 4)];
        break;
      case 1:
        h = h.filter((x) => x[0] !== r.pick([":method", ":path", ":scheme"]));
        break;
      case 2:
        h.push([":path", path]);
        break;
      case 3:
        h.push(["X-Upper", "v"]);
        break;
      case 4:
        h.push(["x-bad", r.pick(["a\r\nb", "a\0b", " lead"])]);
        break;
      default:
        h.push(["connection", "keep-alive"]);
    }
  }
  const block = hpackLiterals(h);
  return r.chance(0.04) ? Buffer.from(mutateBytes(r, block)) : block;
}

/** How the agent ended a connection: its GOAWAY (with the error code) or just closing it. */
const over = (conn: RawH2Conn) => (conn.goaway ? `goaway:${conn.goaway.code}` : "closed");

interface Failure {
  target: string;
  problem: string;
  input: string;
}

test(`${CALL_CONNECTIONS} connections of malformed gRPC calls and ${RAW_CONNECTIONS} of random HTTP/2 frames: each answered or closed within ${DEADLINE_MS} ms; a well-behaved client is served and sees every update`, async () => {
  if (setupError) throw setupError;
  const r = new Rand(FUZZ_SEED + 2);
  const counts = { grpc_calls: 0, h2_frames: 0, abrupt_close: 0 };
  const outcomes = new Map<string, number>();
  const note = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  const failures: Failure[] = [];
  const fail = (f: Failure) => {
    if (failures.length < 20) failures.push(f);
  };
  // Inputs being sent right now: if the agent dies, these are the suspects. (Its death closes every socket before
  // the exit event arrives, so the last connections started are kept too.)
  const inFlight = new Set<{ target: string; conn: RawH2Conn }>();
  const recent: { target: string; conn: RawH2Conn }[] = [];
  const track = (x: { target: string; conn: RawH2Conn }) => {
    inFlight.add(x);
    recent.push(x);
    if (recent.length > 2 * CONCURRENCY) recent.shift();
  };
  let crash: { how: string; inputs: string[] } | undefined;
  const agent = c.agent!;
  agent.child.once("exit", (code, signal) => {
    crash = {
      how: `agent exited (code ${code}, signal ${signal})`,
      inputs: [...new Set([...inFlight, ...recent])].map((x) => `${x.target}: ${x.conn.hex(6000)}`),
    };
  });

  const steady = new SteadyClient(c.agentSocket);
  await waitFor("the well-behaved client's first update", async () => (steady.updates().length > 0 ? true : undefined));
  const started = performance.now();
  let fuzzing = true;

  // Entry changes while the fuzz runs: each must reach the held stream (created, then gone).
  const changes: { id: string; seenMs: number; goneMs: number }[] = [];
  const changeLoop = (async () => {
    for (let k = 0; fuzzing; k++) {
      const spiffeID = `spiffe://example.org/change-${k}`;
      const t0 = performance.now();
      const from = steady.lines.length;
      const entryID = await createEntry(c, { spiffeID, selector: "unix:uid:0" });
      await waitFor(
        `${spiffeID} on the held stream`,
        async () => (steady.lines.slice(from).some((l) => l.ev === "x509" && l.ids!.includes(spiffeID)) ? true : undefined),
        20_000,
      );
      const seenMs = performance.now() - t0;
      const t1 = performance.now();
      const from2 = steady.lines.length;
      await deleteEntry(c, entryID);
      await waitFor(
        `${spiffeID} gone from the held stream`,
        async () => (steady.lines.slice(from2).some((l) => l.ev === "x509" && !l.ids!.includes(spiffeID)) ? true : undefined),
        20_000,
      );
      changes.push({ id: spiffeID, seenMs, goneMs: performance.now() - t1 });
    }
  })();

  const PING_DATA = Buffer.from("wispping");

  /** One connection of 1 to 6 sequential calls; each must end within the deadline. */
  async function callConnection(): Promise<void> {
    const conn = new RawH2Conn(c.agentSocket);
    const me = { target: "grpc_calls", conn };
    track(me);
    try {
      conn.write(r.chance(0.97) ? h2ClientStart() : Buffer.concat([H2_PREFACE, h2Frame(H2_SETTINGS, 0, 0)]));
      const abrupt = r.chance(0.05);
      for (let k = 0, calls = 1 + r.int(6), sid = 1; k < calls; k++, sid += 2) {
        const block = callHeaders(r);
        const msg = r.chance(0.6) ? mutateBytes(r, r.pick(BODIES)) : r.chance(0.5) ? r.pick(BODIES) : r.bytes(r.int(512));
        const body = r.chance(0.9) ? grpcMessage(r, msg) : Buffer.from(r.bytes(r.int(64)));
        const frames = [h2HeaderFrames(sid, block, body.length === 0 && r.chance(0.5))];
        if (frames[0]!.readUInt8(4) & 0x1) {
          // END_STREAM on HEADERS: no body.
        } else if (r.chance(0.15) && body.length > 1) {
          const cut = 1 + r.int(body.length - 1);
          frames.push(h2Frame(0x0, 0, sid, body.subarray(0, cut)), h2Frame(0x0, 0x1, sid, body.subarray(cut)));
        } else {
          frames.push(h2Frame(0x0, 0x1, sid, body));
        }
        if (abrupt && k === calls - 1) {
          // Cut mid-call: part of the frames, then the socket is gone.
          const all = Buffer.concat(frames);
          conn.write(all.subarray(0, r.int(all.length)));
          conn.destroy();
          counts.abrupt_close++;
          return;
        }
        counts.grpc_calls++;
        const cancel = r.chance(0.05);
        if (cancel) {
          // The client gives up mid-call: RST_STREAM(CANCEL), then the connection must still answer a PING.
          conn.write(Buffer.concat([frames[0]!, h2Frame(H2_RST_STREAM, 0, sid, Buffer.from([0, 0, 0, 8])), h2Frame(H2_PING, 0, 0, PING_DATA)]));
          const ok = await conn.until(() => conn.pingAcked(PING_DATA) || conn.over(), DEADLINE_MS);
          if (!ok) fail({ target: "grpc_calls", problem: `no PING ACK and no close within ${DEADLINE_MS} ms after a cancelled call`, input: conn.hex() });
          note(`grpc:${conn.over() ? over(conn) : "cancelled"}`);
          if (conn.over()) return;
          continue;
        }
        conn.write(Buffer.concat(frames));
        const ok = await conn.until(() => conn.outcome(sid) !== undefined || conn.over(), DEADLINE_MS);
        const out = conn.outcome(sid);
        if (!ok) {
          fail({ target: "grpc_calls", problem: `call on stream ${sid} neither answered nor closed within ${DEADLINE_MS} ms`, input: conn.hex() });
          return;
        }
        note(`grpc:${out ?? over(conn)}`);
        if (out === "data") conn.write(h2Frame(H2_RST_STREAM, 0, sid, Buffer.from([0, 0, 0, 8])));
        if (out === undefined) return;
      }
      // A polite client says goodbye with GOAWAY; others just drop the connection.
      if (r.chance(0.3)) {
        conn.write(h2Frame(H2_GOAWAY, 0, 0, Buffer.alloc(8)));
        conn.end();
      }
    } finally {
      inFlight.delete(me);
      conn.destroy();
    }
  }

  /** A random or mutated frame (or raw garbage); `aligned` turns false when the bytes may not end on a frame boundary. */
  function randomFrame(): { bytes: Buffer; aligned: boolean } {
    const sid = r.chance(0.6) ? 1 + 2 * r.int(4) : r.int(1 << 31);
    const p = (n: number) => Buffer.from(r.bytes(n));
    switch (r.int(14)) {
      case 0:
        return { bytes: Buffer.from(r.bytes(r.int(128))), aligned: false };
      case 1: {
        // A frame header announcing far more than follows (up to 16 MiB).
        const head = h2Frame(r.int(10), r.int(256), sid, Buffer.alloc(0));
        head.writeUIntBE(r.pick([16_385, 65_535, 0xffffff, r.int(1 << 24)]), 0, 3);
        return { bytes: Buffer.concat([head, p(r.int(64))]), aligned: false };
      }
      case 2:
        return { bytes: h2Frame(0x1, r.int(256) & ~0x4, sid, p(r.int(40))), aligned: true }; // HEADERS without END_HEADERS
      case 3:
        return { bytes: h2Frame(0x9, r.int(256), sid, p(r.int(64))), aligned: true }; // CONTINUATION
      case 4: {
        const b = Buffer.alloc(6 * (1 + r.int(3)));
        for (let o = 0; o < b.length; o += 6) {
          b.writeUInt16BE(r.int(10), o);
          b.writeUInt32BE(r.pick([0, 1, 2, 16_383, 16_384, 0x7fffffff, 0x80000000, 0xffffffff, r.int(1 << 30)]), o + 2);
        }
        return { bytes: h2Frame(H2_SETTINGS, r.chance(0.1) ? 1 : 0, r.chance(0.9) ? 0 : sid, b), aligned: true };
      }
      case 5: {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(r.pick([0, 1, 0x7fffffff, 0xffffffff]), 0);
        return { bytes: h2Frame(0x8, 0, r.chance(0.5) ? 0 : sid, b), aligned: true }; // WINDOW_UPDATE, overflow or zero
      }
      case 6:
        return {
          bytes: Buffer.concat([
            h2Frame(H2_RST_STREAM, 0, sid, Buffer.from([0, 0, 0, r.int(14)])),
            h2Frame(H2_GOAWAY, 0, 0, Buffer.concat([Buffer.from([0, 0, 0, r.int(8)]), Buffer.from([0, 0, 0, r.int(14)])])),
          ]),
          aligned: true,
        };
      case 7:
        return { bytes: h2Frame(H2_GOAWAY, 0, r.chance(0.8) ? 0 : sid, p(r.pick([0, 4, 8, 20]))), aligned: true };
      case 8:
        return { bytes: h2Frame(0x2, 0, sid, r.chance(0.5) ? Buffer.from([0, 0, 0, sid & 0xff, 16]) : p(r.int(8))), aligned: true }; // PRIORITY, maybe self-dependent
      case 9:
        return { bytes: h2Frame(0x5, 0x4, sid, p(r.int(16))), aligned: true }; // PUSH_PROMISE from a client
      case 10: {
        // A valid call's frames, with bytes flipped.
        const call = Buffer.concat([
          h2HeaderFrames(
            sid | 1,
            hpackLiterals([[":method", "POST"], [":scheme", "http"], [":path", r.pick(METHODS)], ["content-type", "application/grpc"], [
              SECURITY_HEADER,
              "true",
            ]]),
            false,
          ),
          h2Frame(0x0, 0x1, sid | 1, Buffer.alloc(5)),
        ]);
        return { bytes: Buffer.from(mutateBytes(r, call)), aligned: false };
      }
      case 11:
        return { bytes: h2Frame(r.int(256), r.int(256), sid, p(r.int(64))), aligned: true }; // any type, known or not
      case 12: {
        // Many streams opened and reset at once, then a GOAWAY.
        const out: Buffer[] = [];
        for (let s = 1, n = 2 + r.int(30); n > 0; n--, s += 2) {
          out.push(
            h2HeaderFrames(
              s,
              hpackLiterals([[":method", "POST"], [":scheme", "http"], [":path", METHODS[0]!], ["content-type", "application/grpc"], [
                SECURITY_HEADER,
                "true",
              ]]),
              false,
            ),
            h2Frame(H2_RST_STREAM, 0, s, Buffer.from([0, 0, 0, r.int(14)])),
          );
        }
        out.push(h2Frame(H2_GOAWAY, 0, 0, Buffer.alloc(8)));
        return { bytes: Buffer.concat(out), aligned: true };
      }
      default:
        return { bytes: h2Frame(0x0, r.int(256), sid, p(r.int(64))), aligned: true }; // DATA, maybe padded badly
    }
  }

  /** One connection of random frames, then a PING probe: answered or closed within the deadline. */
  async function rawConnection(): Promise<void> {
    const conn = new RawH2Conn(c.agentSocket);
    const me = { target: "h2_frames", conn };
    track(me);
    counts.h2_frames++;
    try {
      let aligned = r.chance(0.9);
      const parts: Buffer[] = [
        aligned ? (r.chance(0.5) ? h2ClientStart() : Buffer.concat([H2_PREFACE, h2Frame(H2_SETTINGS, 0, 0)])) : Buffer.from(mutateBytes(r, H2_PREFACE)),
      ];
      for (let k = 1 + r.int(5); k > 0; k--) {
        const f = randomFrame();
        parts.push(f.bytes);
        aligned &&= f.aligned;
      }
      const probe = Buffer.from(r.bytes(8));
      conn.write(Buffer.concat([...parts, h2Frame(H2_PING, 0, 0, probe)]));
      const answered = await conn.until(() => conn.pingAcked(probe) || conn.over(), aligned ? DEADLINE_MS : 1000);
      if (answered) {
        note(`h2:${conn.pingAcked(probe) ? "ping_ack" : over(conn)}`);
        return;
      }
      if (aligned) {
        fail({ target: "h2_frames", problem: `no PING ACK and no close within ${DEADLINE_MS} ms`, input: conn.hex() });
        return;
      }
      // The agent may be waiting for the rest of a frame: once the client half-closes, the connection must close.
      conn.end();
      if (await conn.until(() => conn.over(), DEADLINE_MS)) note(`h2:${over(conn)}_after_half_close`);
      else fail({ target: "h2_frames", problem: `connection still open ${DEADLINE_MS} ms after the client half-closed`, input: conn.hex() });
    } finally {
      inFlight.delete(me);
      conn.destroy();
    }
  }

  let callsLeft = CALL_CONNECTIONS;
  let rawLeft = RAW_CONNECTIONS;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (crash === undefined && (callsLeft > 0 || rawLeft > 0)) {
      // Interleave both kinds so calls and protocol errors share the agent at the same time.
      if (callsLeft > 0 && (rawLeft === 0 || r.chance(0.5))) {
        callsLeft--;
        await callConnection();
      } else {
        rawLeft--;
        await rawConnection();
      }
    }
  }));
  fuzzing = false;
  await changeLoop.catch((err) => fail({ target: "entry_changes", problem: String(err), input: "" }));
  const secs = (performance.now() - started) / 1000;
  const window = steady.lines.slice();
  await steady.stop();

  const updates = window.filter((l) => l.ev === "x509");
  const serials = new Set(updates.flatMap((l) => l.serials!.filter((_, i) => l.ids![i] === ID)));
  const jwt = window.filter((l) => l.ev === "jwt");
  const bundles = window.filter((l) => l.ev === "bundles");
  const bad = [...jwt, ...bundles].filter((l) => !l.ok);
  const total = counts.grpc_calls + counts.h2_frames + counts.abrupt_close;
  const hist = [...outcomes].sort().map(([k, v]) => `${k} ${v}`).join(", ");
  console.log(
    `[figure] fuzz_workload (${TEST_RUNTIME} agent, seed ${FUZZ_SEED + 2}): ${total} inputs in ${
      secs.toFixed(1)
    } s, all through the agent's real Unix socket (grpc_calls ${counts.grpc_calls}, h2_frames ${counts.h2_frames}, abrupt_close ${counts.abrupt_close}), 0 in-process; hangs ${
      failures.filter((f) => f.problem.includes("within") || f.problem.includes("still open")).length
    }, crashes ${crash ? 1 : 0}`,
  );
  console.log(`[figure] fuzz_workload outcomes: ${hist}`);
  console.log(
    `[figure] fuzz_workload well-behaved client during the fuzz: ${jwt.length} FetchJWTSVID and ${bundles.length} FetchX509Bundles calls (${bad.length} failed, slowest ${
      Math.max(0, ...[...jwt, ...bundles].map((l) => l.ms ?? 0))
    } ms); held stream: ${updates.length} updates, ${serials.size} distinct SVIDs of ${ID} (rotations), ${changes.length} entry changes seen (create→seen max ${
      Math.max(0, ...changes.map((x) => x.seenMs)).toFixed(0)
    } ms, delete→gone max ${Math.max(0, ...changes.map((x) => x.goneMs)).toFixed(0)} ms)`,
  );

  if (crash) assert.unreachable(`${crash.how}; inputs in flight:\n${crash.inputs.join("\n")}\n${agent.output.slice(-1500)}`);
  assert.equal(failures, []);
  assert.equal(bad, [], "every call of the well-behaved client succeeded");
  assert.ok(jwt.length > 10 && bundles.length > 10, `${jwt.length} unary and ${bundles.length} stream calls`);
  assert.equal(window.filter((l) => l.ev === "x509_end"), [], "the held stream stayed open");
  assert.ok(serials.size >= 3, `${serials.size} SVIDs of ${ID} seen: rotations reached the held stream`);
  assert.ok(changes.length >= 1, "entry changes reached the held stream");
  assert.is(agent.exited, false);
  // One error is expected from the entry churn, not the fuzz: a JWT-SVID asked for while the server has just deleted
  // an entry the agent still holds (SPIRE logs the same "Could not fetch JWT-SVID" at error level).
  // logrus sorts fields and quotes values with ":", so match the line's parts, not their order.
  const churn = /msg="Could not fetch JWT-SVID"(?=.*error="entry not found or not authorized")(?=.*spiffe_id="?spiffe:\/\/example\.org\/change-\d+)/;
  assert.equal(agent.output.split("\n").filter((l) => /level=error/.test(l) && !churn.test(l)), [], "no error in the agent's log");
});

test.run();
