/** dialWorkloadAPI(): our CLI's client against serveGRPC over a real unix socket. @module */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { FETCH_JWT_SVID, FETCH_X509_SVID, serverStreamMethod, unaryMethod } from "../../../src/agent/workload/codec.ts";
import { JWTSVIDRequestSchema, JWTSVIDResponseSchema, X509SVIDRequestSchema, X509SVIDResponseSchema } from "../../../src/agent/workload/proto/workload_pb.ts";
import { FailedPreconditionError, InvalidArgumentError, PermissionDeniedError, UnavailableError } from "../../../src/core/errors.ts";
import { nullLogger } from "../../../src/core/log/logger.ts";
import type { GRPCServerHandle } from "../../../src/core/ports/grpc_server.ts";
import { dialWorkloadAPI } from "../../../src/runtime/node/grpc_client.ts";
import { serveGRPC } from "../../../src/runtime/node/grpc_server.ts";

const dir = mkdtempSync(join(tmpdir(), "wisp-grpc-client-"));
const sock = join(dir, "api.sock");
const H = { "workload.spiffe.io": "true" };
let server: GRPCServerHandle;

const jwt = unaryMethod({ req: JWTSVIDRequestSchema, res: JWTSVIDResponseSchema, path: FETCH_JWT_SVID }, async (req, ctx) => {
  if (ctx.metadata("workload.spiffe.io")[0] !== "true") throw new InvalidArgumentError("security header missing from request");
  if (req.audience.length === 0) throw new PermissionDeniedError("no identity issued");
  return create(JWTSVIDResponseSchema, { svids: [{ spiffeId: "spiffe://example.org/w", svid: req.audience.join(",") }] });
});
const x509 = serverStreamMethod({ req: X509SVIDRequestSchema, res: X509SVIDResponseSchema, path: FETCH_X509_SVID }, async (_r, ctx, send) => {
  for (let i = 0; i < 3; i++) send(create(X509SVIDResponseSchema, { svids: [{ spiffeId: `spiffe://example.org/${i}` }] }));
  if (ctx.metadata("x-hold")[0] === "yes") await new Promise((r) => ctx.signal.addEventListener("abort", r, { once: true }));
});

test.before(async () => {
  server = await serveGRPC({ socketPath: sock, methods: [jwt, x509], logger: nullLogger });
});
test.after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("unary() sends metadata and returns the response bytes", async () => {
  for (const addr of [sock, `unix://${sock}`]) {
    const c = dialWorkloadAPI(addr);
    const req = toBinary(JWTSVIDRequestSchema, create(JWTSVIDRequestSchema, { audience: ["a", "b"] }));
    const res = fromBinary(JWTSVIDResponseSchema, await c.unary(FETCH_JWT_SVID, req, H, 5000));
    assert.is(res.svids[0]?.svid, "a,b");
    c.close();
  }
});

test("unary() maps gRPC statuses to ServiceError classes with the server's message", async () => {
  const c = dialWorkloadAPI(sock);
  const empty = new Uint8Array();
  const cases: [Record<string, string>, string, new (...args: never[]) => Error, string][] = [
    [H, FETCH_JWT_SVID, PermissionDeniedError, "no identity issued"],
    [{}, FETCH_JWT_SVID, InvalidArgumentError, "security header missing from request"],
    [H, "/SpiffeWorkloadAPI/Nope", FailedPreconditionError, "The server does not implement the method /SpiffeWorkloadAPI/Nope"],
  ];
  for (const [md, path, cls, msg] of cases) {
    const err = await c.unary(path, empty, md, 5000).catch((e) => e);
    assert.instance(err, cls);
    assert.is(err.message, msg);
  }
  c.close();
});

test("serverStream() delivers every message and resolves when the stream ends", async () => {
  const c = dialWorkloadAPI(sock);
  const ids: string[] = [];
  await c.serverStream(FETCH_X509_SVID, new Uint8Array(), H, (b) => {
    ids.push(fromBinary(X509SVIDResponseSchema, b).svids[0]!.spiffeId);
  }, new AbortController().signal);
  assert.equal(ids, ["spiffe://example.org/0", "spiffe://example.org/1", "spiffe://example.org/2"]);
  c.close();
});

test("serverStream() rejects with the signal's reason when aborted", async () => {
  const c = dialWorkloadAPI(sock);
  const ctl = new AbortController();
  let n = 0;
  const done = c.serverStream(FETCH_X509_SVID, new Uint8Array(), { ...H, "x-hold": "yes" }, () => {
    if (++n === 3) ctl.abort(new Error("stop"));
  }, ctl.signal);
  const err = await done.catch((e) => e);
  assert.is(err.message, "stop");
  c.close();
});

test("dialWorkloadAPI() rejects a malformed address and reports a missing socket as unavailable", async () => {
  assert.throws(() => dialWorkloadAPI("unix://host/x?y"), (e: unknown) => e instanceof InvalidArgumentError);
  const c = dialWorkloadAPI(join(dir, "missing.sock"));
  const err = await c.unary(FETCH_JWT_SVID, new Uint8Array(), H, 2000).catch((e) => e);
  assert.instance(err, UnavailableError);
  assert.is(err.code, "ERR_UNAVAILABLE");
  c.close();
});

test.run();
