/** Bad input on a running agent's Workload API socket: each is answered or dropped, and everyone else is still served. @module */
import * as grpc from "@grpc/grpc-js";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import { join } from "node:path";
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { grpcRequestFrames, H2_GOAWAY, H2_PREFACE, H2_SETTINGS, h2Call, h2Frame, h2FrameTypes, rawExchange, SECURITY_HEADER } from "../clients/raw_h2.ts";
import {
  checkX509SVID,
  createEntry,
  first,
  headerMetadata,
  pythonStubs,
  PythonWatcher,
  rawServerStream,
  rssKiB,
  type Watch,
  watchX509Bundles,
  watchX509SVID,
  workloadClient,
  type X509SVIDResponseMsg,
} from "./_clients.ts";
import { type Cluster, joinToken, newCluster, startAgent, startServer, tempDir, waitFor, wispAgent } from "./_harness.ts";
import type { AgentManager } from "../../src/agent/manager/manager.ts";
import { FETCH_X509_SVID, serverStreamMethod } from "../../src/agent/workload/codec.ts";
import { X509SVIDRequestSchema, X509SVIDResponseSchema } from "../../src/agent/workload/proto/workload_pb.ts";
import { fetchX509SVID } from "../../src/agent/workload/x509_handlers.ts";
import { nullLogger } from "../../src/core/log/logger.ts";
import { serveGRPC } from "../../src/runtime/node/grpc_server.ts";

const ID = "spiffe://example.org/held";
const FETCH = "/SpiffeWorkloadAPI/FetchX509SVID";
/** Streams one never-reading client opens (10,000 in the issue; kept lower so CI stays fast). */
const FLOOD_STREAMS = 2000;
/** Connections of the GOAWAY regression: an unguarded Deno 2.9.6 agent died within 5 to 11 of them. */
const GOAWAY_CONNECTIONS = 300;

let c: Cluster;
let heldClient: ReturnType<typeof workloadClient>;
let held: Watch<X509SVIDResponseMsg>;
let stubs = "";

/** What every test ends with: a new client gets a valid SVID and the stream opened at the start gets its next update. */
async function stillServing(): Promise<void> {
  assert.is(c.agent!.exited, false, `the agent died: ${c.agent!.output.slice(-600)}`);
  const before = held.messages.length;
  const fresh = workloadClient(c.agentSocket, { ownConnection: true });
  try {
    const [r] = await Promise.all([
      first(watchX509SVID(fresh)),
      held.messagesAtLeast(before + 1, "an update on the stream held since the start", 10_000),
    ]);
    assert.ok("message" in r, JSON.stringify(r));
    if ("message" in r) assert.is(checkX509SVID(r.message.svids[0]!).subjectAltName, `URI:${ID}`);
  } finally {
    fresh.close();
  }
  assert.is(c.agent!.exited, false, c.agent!.output.slice(-2000));
}

function attestedCount(): number {
  return c.agent!.output.match(new RegExp(`msg="Workload attested".* pid=${process.pid} `, "g"))?.length ?? 0;
}

test.before(async () => {
  c = await newCluster();
  await startServer(c);
  await startAgent(c, await joinToken(c, "spiffe://example.org/node1"));
  // SVIDs that live 2 s rotate about every second, so the held stream keeps receiving updates.
  [, stubs] = await Promise.all([createEntry(c, { spiffeID: ID, selector: "unix:uid:0", ttl: 2 }), pythonStubs(c.dir)]);
  heldClient = workloadClient(c.agentSocket, { ownConnection: true });
  held = await waitFor("held stream", async () => {
    const w = watchX509SVID(heldClient);
    const m = await w.messagesAtLeast(1, "first message").catch(() => undefined);
    if (m === undefined) w.cancel();
    return m === undefined ? undefined : w;
  });
});

test.after(async () => {
  held?.cancel();
  heldClient?.close();
  await c?.cleanup();
});

test("random bytes: the agent answers GOAWAY and closes the connection", async () => {
  const r = await rawExchange(c.agentSocket, randomBytes(4096));
  assert.ok(r.closedByAgent);
  assert.ok(h2FrameTypes(r.got).includes(H2_GOAWAY), r.got.toString("hex"));
  await stillServing();
});

test("an HTTP/1.1 request: GOAWAY and the connection is closed", async () => {
  const r = await rawExchange(
    c.agentSocket,
    Buffer.from("GET /SpiffeWorkloadAPI/FetchX509SVID HTTP/1.1\r\nHost: localhost\r\nworkload.spiffe.io: true\r\n\r\n"),
  );
  assert.ok(r.closedByAgent);
  assert.ok(h2FrameTypes(r.got).includes(H2_GOAWAY), r.got.toString("hex"));
  await stillServing();
});

test("a truncated HTTP/2 preface, then the client leaves", async () => {
  const left = await rawExchange(c.agentSocket, H2_PREFACE.subarray(0, 18), { waitMs: 500 });
  assert.not.ok(h2FrameTypes(left.got).includes(H2_GOAWAY));
  // A client that says it is done sending gets its connection closed rather than kept forever.
  const halfClosed = await rawExchange(c.agentSocket, H2_PREFACE.subarray(0, 18), { halfClose: true });
  assert.ok(halfClosed.closedByAgent);
  await stillServing();
});

// Regression: Deno 2.9.6's node:http2 answers a client's GOAWAY by closing the session from inside nghttp2's receive
// loop, which then processes the next frame of the same write on the freed session. A second GOAWAY carrying debug
// data aborts the process (`find_stream_on_goaway_func: Assertion 'stream->closed_next == NULL' failed`) or segfaults
// it within 5 to 11 sequential connections (denoland/deno#36788 is the same crash from another path). The agent's frame
// guard keeps client GOAWAYs from Deno's HTTP/2 layer (src/runtime/node/h2_frame_guard.ts); Node needs no guard.
// The input (68 bytes): preface, empty SETTINGS, GOAWAY(last stream 0, NO_ERROR), GOAWAY(0, NO_ERROR, debug "A").
test(`${GOAWAY_CONNECTIONS} connections, one after another, each sending two GOAWAY frames in one write: the agent stays up`, async () => {
  const input = Buffer.concat([
    H2_PREFACE,
    h2Frame(H2_SETTINGS, 0, 0),
    h2Frame(H2_GOAWAY, 0, 0, Buffer.alloc(8)),
    h2Frame(H2_GOAWAY, 0, 0, Buffer.from("0000000000000000" + "41", "hex")),
  ]);
  assert.is(
    input.toString("hex"),
    "505249202a20485454502f322e300d0a0d0a534d0d0a0d0a0000000400000000000000080700000000000000000000000000000009070000000000000000000000000041",
  );
  for (let i = 0; i < GOAWAY_CONNECTIONS && !c.agent!.exited; i++) await rawExchange(c.agentSocket, input, { waitMs: 10 });
  assert.is(c.agent!.exited, false, c.agent!.output.slice(-500));
  await stillServing();
});

test("a gRPC length prefix larger than the body: disconnecting mid-message is harmless; ending the stream is refused", async () => {
  const short = Buffer.concat([Buffer.from([0, 0, 0, 0x03, 0xe8]), Buffer.from([0x0a, 0x02, 0x01])]); // says 1000 bytes, has 3
  const cut = await h2Call(c.agentSocket, FETCH, { [SECURITY_HEADER]: "true" }, short, false);
  assert.is(cut.dataBytes, 0);
  const ended = await h2Call(c.agentSocket, FETCH, { [SECURITY_HEADER]: "true" }, short);
  assert.ok(ended.status !== undefined && ended.status !== "0", JSON.stringify(ended));
  assert.is(ended.dataBytes, 0);
  await stillServing();
});

test("an 8 MiB request: RESOURCE_EXHAUSTED", async () => {
  const client = workloadClient(c.agentSocket, { ownConnection: true });
  try {
    const r = await first(rawServerStream(client, FETCH, Buffer.alloc(8 * 1024 * 1024), headerMetadata("true")));
    assert.ok("status" in r, "no message");
    if ("status" in r) assert.is(r.status.code, grpc.status.RESOURCE_EXHAUSTED, r.status.details);
  } finally {
    client.close();
  }
  await stillServing();
});

test("a request body that is not protobuf: INVALID_ARGUMENT", async () => {
  const client = workloadClient(c.agentSocket, { ownConnection: true });
  try {
    // Wire type 7, a varint that never ends, a length past the end, field number 0.
    for (const hex of ["0fff", "08ffff", "0a1001", "0001"]) {
      const body = Buffer.from(hex, "hex");
      const r = await first(rawServerStream(client, FETCH, body, headerMetadata("true")));
      assert.ok("status" in r, `no message for ${hex}`);
      if (!("status" in r)) continue;
      assert.is(r.status.code, grpc.status.INVALID_ARGUMENT, `${hex}: ${r.status.details}`);
      assert.match(r.status.details, /^failed to decode request: /);
    }
  } finally {
    client.close();
  }
  await stillServing();
});

test("an unknown method: UNIMPLEMENTED", async () => {
  const client = workloadClient(c.agentSocket, { ownConnection: true });
  try {
    for (const path of ["/SpiffeWorkloadAPI/NoSuchMethod", "/wisp.Nothing/Call"]) {
      const r = await first(rawServerStream(client, path, Buffer.alloc(0), headerMetadata("true")));
      assert.ok("status" in r && r.status.code === grpc.status.UNIMPLEMENTED, `${path}: ${JSON.stringify(r)}`);
    }
  } finally {
    client.close();
  }
  await stillServing();
});

test('wrong security header values: INVALID_ARGUMENT "security header missing from request"', async () => {
  const want = { status: String(grpc.status.INVALID_ARGUMENT), message: "security header missing from request", dataBytes: 0 };
  for (const v of ["false", "", ["true", "true"], ["true", "false"], ["false", "true"]]) {
    assert.equal(await h2Call(c.agentSocket, FETCH, { [SECURITY_HEADER]: v }, Buffer.alloc(5)), want, JSON.stringify(v));
  }
  const client = workloadClient(c.agentSocket, { ownConnection: true });
  try {
    for (const open of [watchX509SVID, watchX509Bundles]) {
      const r = await first<unknown>(open(client, headerMetadata("false")));
      assert.equal(r, { status: { code: grpc.status.INVALID_ARGUMENT, details: "security header missing from request" } });
    }
  } finally {
    client.close();
  }
  await stillServing();
});

test(`a client that opens ${FLOOD_STREAMS} streams and never reads does not hold anyone else up`, async () => {
  const pid = c.agent!.child.pid!;
  const rssBefore = rssKiB(pid);
  const seen = attestedCount();
  const flood = net.connect(c.agentSocket);
  flood.pause(); // never reads: the agent's answers pile up on its side
  flood.on("error", () => {});
  const frames = [H2_PREFACE, h2Frame(H2_SETTINGS, 0, 0)];
  for (let i = 0; i < FLOOD_STREAMS; i++) frames.push(grpcRequestFrames(2 * i + 1, FETCH));
  flood.write(Buffer.concat(frames));
  try {
    await waitFor(`${FLOOD_STREAMS} flood streams attested`, async () => (attestedCount() - seen >= FLOOD_STREAMS ? true : undefined), 30_000);
    const fresh = workloadClient(c.agentSocket, { ownConnection: true });
    const started = performance.now();
    const r = await first(watchX509SVID(fresh)).finally(() => fresh.close());
    const ms = performance.now() - started;
    assert.ok("message" in r, JSON.stringify(r));
    await stillServing();
    console.log(
      `  agent RSS ${(rssBefore / 1024).toFixed(1)} MiB before, ${
        (rssKiB(pid) / 1024).toFixed(1)
      } MiB with ${FLOOD_STREAMS} unread streams; a new client's first response took ${ms.toFixed(0)} ms`,
    );
  } finally {
    flood.destroy();
  }
  await stillServing();
});

test("clients disconnecting mid-stream: an HTTP/2 session torn down, a Python process killed, a socket cut", async () => {
  assert.is(c.agent!.exited, false, "the agent died"); // the waits below have no deadline
  // node:http2 session destroyed right after the first message.
  const session = http2.connect("http://localhost", { createConnection: () => net.connect(c.agentSocket) });
  session.on("error", () => {});
  const req = session.request({ ":method": "POST", ":path": FETCH, "content-type": "application/grpc", te: "trailers", [SECURITY_HEADER]: "true" });
  req.on("error", () => {});
  req.end(Buffer.alloc(5));
  await new Promise<void>((r) => req.once("data", () => r()));
  session.destroy();

  // A Python client (uid 0 here) killed with SIGKILL while its stream is open.
  const py = new PythonWatcher(stubs, ["--socket", c.agentSocket, "watch", "1000"], 0);
  await py.line("Python first message", (l) => l.n === 1);
  await py.kill("SIGKILL");

  // A raw connection cut while 50 streams are being answered.
  const s = net.connect(c.agentSocket);
  s.on("error", () => {});
  const frames = [H2_PREFACE, h2Frame(H2_SETTINGS, 0, 0)];
  for (let i = 0; i < 50; i++) frames.push(grpcRequestFrames(2 * i + 1, FETCH));
  s.write(Buffer.concat(frames));
  await new Promise<void>((r) => s.once("data", () => r()));
  s.destroy();

  await stillServing();
});

// An agent process shows no count of its open streams, so this case runs the agent's own transport and X.509 stream
// code in-process, with an attestation that lasts until the client has given up (the real one awaits /proc reads,
// and about 1 in 8 clients that cancel within 5 ms land in that window).
// KNOWN BUG, fails until fixed: watch() in src/agent/workload/x509_handlers.ts subscribes even when ctx.signal was
// already aborted during attestation, so the stream and its cache subscription live until the identity goes away.
test("a client that gives up while it is being attested leaves no stream or cache subscription behind", async () => {
  const listeners = new Set<() => void>();
  const identity = {
    entry: {
      id: "e1",
      spiffeID: ID,
      parentID: "spiffe://example.org/node1",
      selectors: [],
      x509SVIDTTL: 0,
      dnsNames: [],
      hint: "",
      revisionNumber: 1,
      createdAt: 0,
    },
    svid: {
      chain: [new Uint8Array(8)],
      keyPKCS8: new Uint8Array(8),
      issuedAt: new Date(),
      notAfter: new Date(Date.now() + 3_600_000),
      rotateAt: new Date(),
      revision: 1,
    },
  };
  const manager = {
    subscribe: (fn: () => void) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    identities: () => [identity],
    bundle: () => ({ trustDomain: "spiffe://example.org", roots: [], jwtKeys: [], sequence: 1 }),
  } as unknown as AgentManager;
  let attesting = false;
  const method = serverStreamMethod({ req: X509SVIDRequestSchema, res: X509SVIDResponseSchema, path: FETCH_X509_SVID }, async (_r, ctx, send) => {
    attesting = true;
    await waitFor("the client to give up", async () => (ctx.signal.aborted ? true : undefined), 10_000);
    await fetchX509SVID(manager, [], ctx, send);
  });
  const dir = tempDir();
  const srv = await serveGRPC({ socketPath: join(dir, "api.sock"), methods: [method], logger: nullLogger });
  const client = workloadClient(join(dir, "api.sock"));
  try {
    const w = watchX509SVID(client);
    await waitFor("attestation to start", async () => (attesting ? true : undefined));
    w.cancel();
    const left = await waitFor("the stream to be released", async () => (srv.openStreams() === 0 && listeners.size === 0 ? true : undefined), 3000)
      .catch(() => false);
    assert.ok(left, `still ${srv.openStreams()} open stream(s) and ${listeners.size} cache subscription(s) after the client left`);
  } finally {
    client.close();
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the agent is still running and healthy, and logged no handler failure", async () => {
  assert.is(c.agent!.exited, false);
  const h = await wispAgent(["healthcheck", "-socketPath", c.agentSocket]);
  assert.is(h.code, 0, h.stderr);
  assert.is(h.stdout, "Agent is healthy.\n");
  assert.is(held.status, undefined, "the stream opened at the start is still open");
  assert.not.match(c.agent!.output, /level=error/);
});

test.run();
