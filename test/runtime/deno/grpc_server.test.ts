/** serveGRPC under Deno with the Deno.dlopen peer-credential reader, called by independent grpc-js clients. @module */
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { FETCH_X509_SVID, serverStreamMethod } from "../../../src/agent/workload/codec.ts";
import { X509SVIDRequestSchema, X509SVIDResponseSchema } from "../../../src/agent/workload/proto/workload_pb.ts";
import { nullLogger } from "../../../src/core/log/logger.ts";
import type { GRPCServerHandle } from "../../../src/core/ports/grpc_server.ts";
import { peerCredReader } from "../../../src/runtime/deno/peer_cred.ts";
import { serveGRPC } from "../../../src/runtime/node/grpc_server.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CLIENT = join(ROOT, "test/runtime/node/_workload_client.ts");
const dir = mkdtempSync(join(tmpdir(), "wisp-grpc-deno-"));
chmodSync(dir, 0o755);
const sock = join(dir, "api.sock");
let server: GRPCServerHandle;

const x509 = serverStreamMethod({ req: X509SVIDRequestSchema, res: X509SVIDResponseSchema, path: FETCH_X509_SVID }, async (_r, ctx, send) => {
  const { pid, uid, gid } = ctx.peer;
  send(create(X509SVIDResponseSchema, { svids: [{ spiffeId: `spiffe://example.org/pid/${pid}/uid/${uid}/gid/${gid}` }] }));
  await new Promise((r) => ctx.signal.addEventListener("abort", r, { once: true }));
});

function runClient(asUid?: number): Promise<{ pid: number; first: { svids: { spiffe_id: string }[] } }> {
  const cmd = ["node", "--import", "tsx", CLIENT, sock, "first"];
  const argv = asUid === undefined ? cmd : ["setpriv", `--reuid=${asUid}`, `--regid=${asUid}`, "--clear-groups", ...cmd];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  return new Promise((resolve, reject) => {
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`client exited ${code}: ${out}`))));
  });
}

test.before(async () => {
  server = await serveGRPC({ socketPath: sock, methods: [x509], logger: nullLogger, peerCred: peerCredReader() });
});
test.after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("serveGRPC() on Deno gives a root client's pid, uid and gid to the handler", async () => {
  const r = await runClient();
  assert.is(r.first.svids[0]!.spiffe_id, `spiffe://example.org/pid/${r.pid}/uid/0/gid/0`);
});

test("serveGRPC() on Deno gives a uid 1000 client's pid, uid and gid to the handler", async () => {
  const r = await runClient(1000);
  assert.is(r.first.svids[0]!.spiffe_id, `spiffe://example.org/pid/${r.pid}/uid/1000/gid/1000`);
});

test("serveGRPC() on Deno answers an unknown method with UNIMPLEMENTED", async () => {
  const c = new grpc.Client(`unix://${sock}`, grpc.credentials.createInsecure());
  const err = await new Promise<grpc.ServiceError>((resolve) =>
    c.makeUnaryRequest("/SpiffeWorkloadAPI/Nope", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (e) => resolve(e!))
  );
  assert.is(err.code, grpc.status.UNIMPLEMENTED);
  c.close();
});

test.run();
