/** serveGRPC on Node: peer credentials, statuses, bad input and cancellation, seen by independent grpc-js clients. @module */
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { FETCH_JWT_SVID, FETCH_X509_SVID, serverStreamMethod, unaryMethod } from "../../../src/agent/workload/codec.ts";
import { JWTSVIDRequestSchema, JWTSVIDResponseSchema, X509SVIDRequestSchema, X509SVIDResponseSchema } from "../../../src/agent/workload/proto/workload_pb.ts";
import { InvalidArgumentError, NotFoundError, UnauthenticatedError } from "../../../src/core/errors.ts";
import { nullLogger } from "../../../src/core/log/logger.ts";
import type { CallContext, GRPCServerHandle } from "../../../src/core/ports/grpc_server.ts";
import type { ProcFS } from "../../../src/core/ports/proc_fs.ts";
import { serveGRPC } from "../../../src/runtime/node/grpc_server.ts";
import { NodeProcFS } from "../../../src/runtime/node/proc_fs.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CLIENT = join(ROOT, "test/runtime/node/_workload_client.ts");
const dir = mkdtempSync(join(tmpdir(), "wisp-grpc-"));
chmodSync(dir, 0o755); // uid 1000 clients must reach the socket
const sock = join(dir, "public", "api.sock");

const aborted = new Map<number, () => void>();
const contexts = new Map<number, CallContext>();
const abortedP = (pid: number) => new Promise<void>((r) => aborted.set(pid, r));
let replaced = false; // makes the ProcFS report a different start time, as after PID reuse
const realProc = new NodeProcFS();
const proc: ProcFS = {
  startTime: async (pid) => (await realProc.startTime(pid)) + (replaced ? 1 : 0),
  status: (pid) => realProc.status(pid),
  exePath: (pid) => realProc.exePath(pid),
  exeFile: (pid) => realProc.exeFile(pid),
  sha256: (path, limit) => realProc.sha256(path, limit),
  userName: (uid) => realProc.userName(uid),
  groupName: (gid) => realProc.groupName(gid),
  ownerOf: (pid) => realProc.ownerOf(pid),
};

const x509 = serverStreamMethod({ req: X509SVIDRequestSchema, res: X509SVIDResponseSchema, path: FETCH_X509_SVID }, async (_r, ctx, send) => {
  if (ctx.metadata("workload.spiffe.io")[0] !== "true") {
    throw new InvalidArgumentError("security header missing from request");
  }
  const { pid, uid, gid } = ctx.peer;
  contexts.set(pid, ctx);
  send(create(X509SVIDResponseSchema, { svids: [{ spiffeId: `spiffe://example.org/pid/${pid}/uid/${uid}/gid/${gid}` }] }));
  await new Promise((r) => ctx.signal.addEventListener("abort", r, { once: true }));
  aborted.get(pid)?.();
});
const jwt = unaryMethod({ req: JWTSVIDRequestSchema, res: JWTSVIDResponseSchema, path: FETCH_JWT_SVID }, async (req, ctx: CallContext) => {
  if (req.audience[0] === "boom") throw new Error("secret detail");
  if (req.audience[0] === "alive") await ctx.verifyPeerAlive();
  if (req.audience[0] === "missing") throw new NotFoundError(`entry "x" not found`);
  return create(JWTSVIDResponseSchema, { svids: [{ spiffeId: `spiffe://example.org/${ctx.peer.pid}`, svid: "t" }] });
});

let server: GRPCServerHandle;
const errors: string[] = [];
const logger = { ...nullLogger, error: (m: string) => void errors.push(m), with: () => logger };

function runClient(
  args: string[],
  asUid?: number,
): Promise<{ pid: number; first?: { svids: { spiffe_id: string }[] }; error?: { code: number; details: string } }> {
  const cmd = ["node", "--import", "tsx", CLIENT, sock, ...args];
  const argv = asUid === undefined ? cmd : ["setpriv", `--reuid=${asUid}`, `--regid=${asUid}`, "--clear-groups", ...cmd];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  return new Promise((resolve, reject) => {
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`client exited ${code}: ${out}`))));
  });
}

const id = (b: Uint8Array | Buffer) => Buffer.from(b);
function rawClient(): grpc.Client {
  return new grpc.Client(`unix://${sock}`, grpc.credentials.createInsecure());
}
function unary(c: grpc.Client, path: string, body: Uint8Array, md = new grpc.Metadata()): Promise<Buffer> {
  return new Promise((resolve, reject) => c.makeUnaryRequest(path, id, (b: Buffer) => b, body, md, (err, res) => (err ? reject(err) : resolve(res!))));
}
const withHeader = () => {
  const md = new grpc.Metadata();
  md.set("workload.spiffe.io", "true");
  return md;
};

test.before(async () => {
  server = await serveGRPC({ socketPath: sock, methods: [x509, jwt], logger, socketMode: 0o777, proc });
});
test.after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("serveGRPC() creates the socket directory and applies the socket mode", () => {
  assert.ok(statSync(sock).isSocket());
  assert.is(statSync(sock).mode & 0o777, 0o777);
});

test("serveGRPC() gives a root client's pid, uid and gid to the handler", async () => {
  const r = await runClient(["first"]);
  assert.is(r.first?.svids[0]?.spiffe_id, `spiffe://example.org/pid/${r.pid}/uid/0/gid/0`);
});

test("serveGRPC() gives a uid 1000 client's pid, uid and gid to the handler", async () => {
  const r = await runClient(["first"], 1000);
  assert.is(r.first?.svids[0]?.spiffe_id, `spiffe://example.org/pid/${r.pid}/uid/1000/gid/1000`);
});

test("serveGRPC() answers a handler's ServiceError with its status and message", async () => {
  const r = await runClient(["first", "noheader"]);
  assert.equal(r.error, { code: grpc.status.INVALID_ARGUMENT, details: "security header missing from request" });
  const c = rawClient();
  const body = (aud: string) => Buffer.from([0x0a, aud.length, ...Buffer.from(aud)]);
  const err = await unary(c, FETCH_JWT_SVID, body("missing")).catch((e) => e);
  assert.is(err.code, grpc.status.NOT_FOUND);
  assert.is(err.details, `entry "x" not found`);
  c.close();
});

test('serveGRPC() answers any other error with INTERNAL "internal error" and logs it', async () => {
  const c = rawClient();
  const err = await unary(c, FETCH_JWT_SVID, Buffer.from([0x0a, 4, ...Buffer.from("boom")])).catch((e) => e);
  assert.is(err.code, grpc.status.INTERNAL);
  assert.is(err.details, "internal error");
  assert.equal(errors, ["Workload API handler failed"]);
  c.close();
});

test("serveGRPC() answers undecodable protobuf with INVALID_ARGUMENT", async () => {
  const c = rawClient();
  const err = await unary(c, FETCH_JWT_SVID, Buffer.from([0xff, 0xff, 0xff, 0xff])).catch((e) => e);
  assert.is(err.code, grpc.status.INVALID_ARGUMENT);
  assert.match(err.details, /^failed to decode request: /);
  const stream = c.makeServerStreamRequest(FETCH_X509_SVID, id, (b: Buffer) => b, Buffer.from([0x0a, 0x05]), withHeader());
  const serr = await new Promise<grpc.ServiceError>((r) => stream.on("error", r));
  assert.is(serr.code, grpc.status.INVALID_ARGUMENT);
  c.close();
});

test("serveGRPC() answers an unknown method with UNIMPLEMENTED", async () => {
  const c = rawClient();
  const err = await unary(c, "/SpiffeWorkloadAPI/FetchNothing", new Uint8Array()).catch((e) => e);
  assert.is(err.code, grpc.status.UNIMPLEMENTED);
  c.close();
});

test("serveGRPC() survives garbage bytes on the socket and keeps serving others", async () => {
  for (const junk of ["GET / HTTP/1.1\r\n\r\n", "\x00\x01\x02garbage".repeat(100)]) {
    await new Promise<void>((resolve) => {
      const s = net.connect(sock, () => s.end(junk));
      s.on("error", () => resolve());
      s.on("close", () => resolve());
      s.resume();
    });
  }
  const r = await runClient(["first"]);
  assert.is(r.first?.svids[0]?.spiffe_id, `spiffe://example.org/pid/${r.pid}/uid/0/gid/0`);
});

test("serveGRPC() aborts ctx.signal when a client cancels or its process dies mid-stream; verifyPeerAlive() then fails", async () => {
  const c = rawClient();
  const stream = c.makeServerStreamRequest(FETCH_X509_SVID, id, (b: Buffer) => b, new Uint8Array(), withHeader());
  stream.on("error", () => {});
  const done = abortedP(process.pid);
  await new Promise((r) => stream.once("data", r));
  assert.is(server.openStreams(), 1);
  stream.cancel();
  await done;
  c.close();

  const cmd = ["--import", "tsx", CLIENT, sock, "hold"];
  const child = spawn("node", cmd, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const killed = abortedP(child.pid!);
  await new Promise((r) => child.stdout.once("data", r));
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await killed;
  await new Promise((r) => setImmediate(r));
  assert.is(server.openStreams(), 0);

  // Once the dead client is reaped its pid no longer exists; the guard must say so.
  await exited;
  const err = await contexts.get(child.pid!)!.verifyPeerAlive().catch((e) => e);
  assert.instance(err, UnauthenticatedError);
  assert.is(err.code, "ERR_UNAUTHENTICATED");
  assert.is(err.message, "could not verify existence of the original caller");
  assert.instance(err.cause, NotFoundError);
});

test("verifyPeerAlive() throws UNAUTHENTICATED when the caller's pid now runs another process", async () => {
  const c = rawClient();
  const alive = Buffer.from([0x0a, 5, ...Buffer.from("alive")]);
  assert.ok((await unary(c, FETCH_JWT_SVID, alive)).length > 0);
  replaced = true;
  try {
    const err = await unary(c, FETCH_JWT_SVID, alive).catch((e) => e);
    assert.is(err.code, grpc.status.UNAUTHENTICATED);
    assert.is(err.details, "could not verify existence of the original caller");
  } finally {
    replaced = false;
    c.close();
  }
});

test("close() ends open streams with UNAVAILABLE and removes the socket", async () => {
  const c = rawClient();
  const stream = c.makeServerStreamRequest(FETCH_X509_SVID, id, (b: Buffer) => b, new Uint8Array(), withHeader());
  const ended = new Promise<grpc.ServiceError>((r) => stream.on("error", r));
  await new Promise((r) => stream.once("data", r));
  await server.close();
  const err = await ended;
  assert.is(err.code, grpc.status.UNAVAILABLE);
  assert.is(server.openStreams(), 0);
  assert.throws(() => statSync(sock));
  c.close();
});

test.run();
