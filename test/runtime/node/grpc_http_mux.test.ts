/**
 * serveGRPC with an HTTP/1.1 handler on the same unix socket (the server's admin socket): connections opening with
 * the HTTP/2 preface get gRPC, everything else the HTTP handler; seen by grpc-js and node:http clients.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import * as http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { HEALTH_CHECK, unaryMethod } from "../../../src/agent/workload/codec.ts";
import { HealthCheckRequestSchema, HealthCheckResponse_ServingStatus, HealthCheckResponseSchema } from "../../../src/agent/workload/proto/health_pb.ts";
import { UnauthenticatedError } from "../../../src/core/errors.ts";
import { nullLogger } from "../../../src/core/log/logger.ts";
import type { CallContext, GRPCServerHandle } from "../../../src/core/ports/grpc_server.ts";
import { serveGRPC } from "../../../src/runtime/node/grpc_server.ts";

const dir = mkdtempSync(join(tmpdir(), "wisp-mux-"));
const sock = join(dir, "private", "api.sock");
let server: GRPCServerHandle;
let seen: CallContext | undefined;

const check = unaryMethod({ req: HealthCheckRequestSchema, res: HealthCheckResponseSchema, path: HEALTH_CHECK }, async (req, ctx) => {
  seen = ctx;
  return create(HealthCheckResponseSchema, {
    status: req.service === "" ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING,
  });
});

test.before(async () => {
  server = await serveGRPC({
    socketPath: sock,
    methods: [check],
    logger: nullLogger,
    socketMode: 0o770,
    requirePeer: false,
    // Credentials that cannot be read (as for a caller in another PID namespace): the caller is served anyway.
    peerCred: () => {
      throw new Error("SO_PEERCRED failed");
    },
    apiName: "Server API",
    http: async (req) =>
      new Response(JSON.stringify({ path: new URL(req.url).pathname, body: await req.text() }), { headers: { "content-type": "application/json" } }),
  });
});

test.after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

function grpcCheck(service: string): Promise<{ status?: number; err?: grpc.ServiceError }> {
  const c = new grpc.Client(`unix://${sock}`, grpc.credentials.createInsecure());
  // HealthCheckRequest{service} and the status byte of HealthCheckResponse, encoded by hand to stay independent.
  const toBinary = (m: string) => Buffer.from(m ? [0x0a, m.length, ...Buffer.from(m)] : []);
  const fromBinary = (b: Buffer) => b;
  return new Promise((resolve) => {
    c.makeUnaryRequest(HEALTH_CHECK, toBinary, fromBinary, service, { deadline: Date.now() + 10_000 }, (err, res) => {
      c.close();
      if (err) resolve({ err });
      else resolve({ status: res?.length ? res[1]! : 0 });
    });
  });
}

function httpPost(path: string, body: string): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, path, method: "POST", headers: { "content-type": "text/plain" } }, (res) => {
      let s = "";
      res.on("data", (d) => (s += d));
      res.on("end", () => resolve({ code: res.statusCode ?? 0, body: s }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("gRPC and HTTP/1.1 clients share the socket, one after the other and at once", async () => {
  const [g, h, g2, h2] = await Promise.all([grpcCheck(""), httpPost("/entry/v1/x", "hello"), grpcCheck("x"), httpPost("/y", "")]);
  assert.is(g.err, undefined);
  assert.is(g.status, HealthCheckResponse_ServingStatus.SERVING);
  assert.is(g2.status, HealthCheckResponse_ServingStatus.NOT_SERVING);
  assert.equal(JSON.parse(h.body), { path: "/entry/v1/x", body: "hello" });
  assert.equal(JSON.parse(h2.body), { path: "/y", body: "" });
  assert.is((statSync(sock).mode & 0o777).toString(8), "770");
});

test("a caller whose credentials could not be read is served, and cannot pass verifyPeerAlive", async () => {
  assert.is((await grpcCheck("")).status, HealthCheckResponse_ServingStatus.SERVING);
  assert.equal(seen!.peer, { pid: 0, uid: -1, gid: -1 });
  const err = await seen!.verifyPeerAlive().then(() => undefined, (e: unknown) => e);
  assert.instance(err, UnauthenticatedError);
  assert.is((err as Error).message, "could not verify existence of the original caller");
});

test("a client sending garbage gets an HTTP 400 and the socket keeps serving", async () => {
  const reply = await new Promise<string>((resolve) => {
    const c = net.connect(sock, () => c.write("\x00\x01garbage\r\n\r\n"));
    let s = "";
    c.on("data", (d) => (s += d));
    c.on("close", () => resolve(s));
    c.on("error", () => resolve(s));
  });
  assert.match(reply, /^HTTP\/1\.1 400 Bad Request/);
  assert.is((await grpcCheck("")).status, HealthCheckResponse_ServingStatus.SERVING);
});

test.run();
