/**
 * Fuzz of a running agent's Workload API socket: gRPC calls with random paths, security headers, content types and
 * mutated or random protobuf bodies and length prefixes, and raw connections with random HTTP/2 frames. No call may
 * end in INTERNAL, the agent must log no handler failure, and a client holding a stream from the start and a new
 * client are still served at the end.
 */
import * as http2 from "node:http2";
import * as net from "node:net";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { H2_PREFACE, h2Frame, rawExchange, SECURITY_HEADER } from "../clients/raw_h2.ts";
import { createEntry, first, type Watch, watchX509SVID, workloadClient, type X509SVIDResponseMsg } from "../integration/_clients.ts";
import { type Cluster, joinToken, newCluster, startAgent, startServer } from "../integration/_harness.ts";
import { FUZZ_SEED, mutateBytes, mutateString, Rand, Tally } from "./_fuzz.ts";

const GRPC_CALLS = 20_000;
const RAW_CONNECTIONS = 2_000;
const CONCURRENCY = 16;
const METHODS = ["FetchX509SVID", "FetchX509Bundles", "FetchJWTSVID", "FetchJWTBundles", "ValidateJWTSVID", "FetchWITSVID"].map((m) => `/SpiffeWorkloadAPI/${m}`);

let c: Cluster;
let held: Watch<X509SVIDResponseMsg>;
let heldClient: ReturnType<typeof workloadClient>;

test.before(async () => {
  c = await newCluster();
  await startServer(c);
  await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
  await createEntry(c, { spiffeID: "spiffe://example.org/fuzzer", selector: "unix:uid:0" });
  heldClient = workloadClient(c.agentSocket);
  held = watchX509SVID(heldClient);
  await held.messagesAtLeast(1, "the held stream's first SVID");
});

test.after(async () => {
  held?.cancel();
  heldClient?.close();
  await c?.cleanup();
});

const str = (field: number, s: string) => {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([(field << 3) | 2, b.length & 0x7f]), b]);
};
const BODIES = [Buffer.alloc(0), str(1, "aud"), Buffer.concat([str(1, "a"), str(1, "b"), str(2, "spiffe://example.org/fuzzer")]), Buffer.concat([str(1, "aud"), str(2, "eyJhbGciOiJFUzI1NiJ9.e30.c2ln")])];

function grpcFrame(r: Rand, msg: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head[0] = r.chance(0.9) ? 0 : r.int(256);
  head.writeUInt32BE(r.chance(0.9) ? msg.length : r.pick([0, msg.length + 1, 0xffffffff, r.int(1 << 20)]), 1);
  return Buffer.concat([head, msg]);
}

/** grpc-message is percent-encoded, but an echoed bad header value may not decode. */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** One call on `session`; resolves with its grpc-status ("none" when the agent reset or we cut a live stream) and message. */
function call(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<{ status: string; message: string }> {
  return new Promise((resolve) => {
    let status = "none";
    let message = "";
    let settled = false;
    const req = session.request(headers);
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.close();
      resolve({ status, message });
    };
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) message = safeDecode(String(h["grpc-message"]));
    };
    req.on("response", take);
    req.on("trailers", take);
    // A valid streaming call stays open: its first message is the answer.
    req.on("data", () => setTimeout(done, 5));
    req.on("error", () => done());
    req.on("close", done);
    const timer = setTimeout(done, 2000);
    req.end(body);
  });
}

test(`${GRPC_CALLS} malformed gRPC calls and ${RAW_CONNECTIONS} raw HTTP/2 connections: no INTERNAL, no handler failure, others still served`, async () => {
  const r = new Rand(FUZZ_SEED + 2);
  const t = new Tally();
  const statuses = new Map<string, number>();
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    let session: http2.ClientHttp2Session | undefined;
    while (next < GRPC_CALLS) {
      const i = next++;
      if (!session || session.destroyed || session.closed || i % 50 === 0) {
        session?.destroy();
        session = http2.connect("http://localhost", { createConnection: () => net.connect(c.agentSocket) });
        session.on("error", () => {});
      }
      const path = r.chance(0.85) ? r.pick(METHODS) : mutateString(r, r.pick(METHODS));
      const headers: http2.OutgoingHttpHeaders = { ":method": r.chance(0.9) ? "POST" : r.pick(["GET", "PUT"]), ":path": path, te: "trailers" };
      if (r.chance(0.9)) headers["content-type"] = r.chance(0.8) ? "application/grpc" : mutateString(r, "application/grpc+proto");
      if (r.chance(0.8)) headers[SECURITY_HEADER] = r.chance(0.7) ? "true" : r.pick(["false", "TRUE", "", "1", mutateString(r, "true")]);
      if (r.chance(0.1)) headers[r.pick(["grpc-timeout", "grpc-encoding", "x-junk", "grpc-accept-encoding"])] = mutateString(r, r.pick(["1S", "gzip", "identity", "x"]));
      const msg = r.chance(0.6) ? mutateBytes(r, r.pick(BODIES)) : r.chance(0.5) ? r.pick(BODIES) : r.bytes(r.int(512));
      const body = r.chance(0.9) ? grpcFrame(r, msg) : Buffer.from(r.bytes(r.int(64)));
      const s = session;
      await t.run("workload_api_grpc", { path, headers }, () => call(s, headers, body), ({ status, message }) => {
        // grpc-js answers a malformed grpc-timeout header itself, before any wisp code, with INTERNAL (grpc-go does
        // the same: "malformed grpc-timeout"); anything else INTERNAL would be a wisp handler failure.
        const key = status === "13" && message.startsWith("Invalid grpc-timeout value") ? "13(grpc-timeout)" : status;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        return key === "13" ? `grpc-status 13 INTERNAL "${message}"` : undefined;
      }, 5000);
    }
    session?.destroy();
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));

  let raw = 0;
  const rawWorker = async () => {
    while (raw < RAW_CONNECTIONS) {
      raw++;
      const frames: Buffer[] = r.chance(0.8) ? [H2_PREFACE] : [];
      for (let k = 1 + r.int(5); k > 0; k--) {
        frames.push(r.chance(0.8) ? h2Frame(r.int(12), r.int(256), r.chance(0.5) ? 1 + 2 * r.int(4) : r.int(1 << 31), Buffer.from(r.bytes(r.int(64)))) : Buffer.from(r.bytes(r.int(128))));
      }
      const data = Buffer.concat(frames);
      await t.run("workload_api_h2_frames", data.length, () => rawExchange(c.agentSocket, data, { waitMs: 300 }), undefined, 5000);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, rawWorker));

  const before = held.messages.length;
  const fresh = workloadClient(c.agentSocket, { ownConnection: true });
  const got = await first(watchX509SVID(fresh));
  fresh.close();
  const secs = (performance.now() - started) / 1000;
  const hist = [...statuses].sort().map(([k, v]) => `${k}:${v}`).join(" ");
  console.log(`[figure] fuzz_workload: ${t.total()} inputs in ${secs.toFixed(1)} s (seed ${FUZZ_SEED + 2}): ${t.summary()}; grpc-status histogram ${hist}; failures ${t.failures.length}`);
  assert.equal(t.failures, []);
  assert.ok("message" in got, JSON.stringify(got));
  assert.is(held.status, undefined, "the stream held since the start is still open");
  assert.ok(held.messages.length >= before);
  assert.is(c.agent!.exited, false);
  assert.not.match(c.agent!.output, /level=error/);
});

test.run();
