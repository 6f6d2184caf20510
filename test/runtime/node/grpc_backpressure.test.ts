/** serveGRPC keeps only the newest message for a client that does not read, so memory stays bounded. @module */
import * as http2 from "node:http2";
import * as net from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { nullLogger } from "../../../src/core/log/logger.ts";
import type { GRPCMethod } from "../../../src/core/ports/grpc_server.ts";
import { serveGRPC } from "../../../src/runtime/node/grpc_server.ts";

const MESSAGES = 400;
const SIZE = 256 * 1024;

test("a client that stops reading gets the newest message after a bounded backlog, not every message", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wisp-bp-"));
  const sock = join(dir, "api.sock");
  let sent = 0;
  const method: GRPCMethod = {
    kind: "server_stream",
    path: "/test.Flood/Flood",
    decode: (b) => b,
    encode: (m: number) => {
      const b = new Uint8Array(SIZE);
      new DataView(b.buffer).setUint32(0, m);
      return b;
    },
    handle: async (_req, ctx, send) => {
      for (let i = 0; i < MESSAGES; i++) {
        send(i);
        sent++;
        await new Promise((r) => setTimeout(r, 1));
      }
      await new Promise((r) => ctx.signal.addEventListener("abort", r, { once: true }));
    },
  };
  const server = await serveGRPC({ socketPath: sock, methods: [method], logger: nullLogger });
  // node:http2 directly, because a paused stream there really stops reading and lets flow control push back;
  // grpc-js clients keep buffering whatever arrives.
  const session = http2.connect("http://localhost", { createConnection: () => net.connect(sock) });
  const stream = session.request({
    ":method": "POST",
    ":path": "/test.Flood/Flood",
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.end(Buffer.from([0, 0, 0, 0, 0]));
  stream.pause();
  while (sent < MESSAGES) await new Promise((r) => setTimeout(r, 20));
  const got: number[] = [];
  let buf = Buffer.alloc(0);
  stream.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
      const len = buf.readUInt32BE(1);
      got.push(buf.readUInt32BE(5));
      buf = buf.subarray(5 + len);
    }
  });
  stream.resume();
  const deadline = Date.now() + 10_000;
  while (got.at(-1) !== MESSAGES - 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.is(got.at(-1), MESSAGES - 1, "the newest state arrives");
  assert.ok(got.length < MESSAGES / 2, `a bounded backlog was delivered (${got.length} of ${MESSAGES})`);
  for (let i = 1; i < got.length; i++) assert.ok(got[i]! > got[i - 1]!, "messages stay in order");
  stream.close();
  session.destroy();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
