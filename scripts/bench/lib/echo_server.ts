/**
 * The reference server of the workload benchmark, run as its own process: serveGRPC on a unix socket with one
 * server-streaming method that sends a fixed payload and holds the stream, i.e. the transport without wisp's work.
 * With a third argument "guard", client bytes go through the HTTP/2 frame guard the agent uses on Deno.
 * Usage: node --import tsx scripts/bench/lib/echo_server.ts <socketPath> <payloadBytes> [guard] (or deno run -A …);
 * prints "ready" when serving.
 * @module
 */
import { nullLogger } from "../../../src/core/log/logger.ts";
import type { ServerStreamMethod } from "../../../src/core/ports/grpc_server.ts";
import { serveGRPC } from "../../../src/runtime/node/grpc_server.ts";

export const ECHO_PATH = "/bench.Echo/Stream";

async function main(): Promise<void> {
  const [socketPath, size, guard] = process.argv.slice(2);
  if (!socketPath) throw new Error("usage: echo_server.ts <socketPath> <payloadBytes> [guard]");
  const payload = new Uint8Array(Number(size ?? 1500)).fill(7);
  const method: ServerStreamMethod<Uint8Array, Uint8Array> = {
    kind: "server_stream",
    path: ECHO_PATH,
    decode: (b) => b,
    encode: (m) => m,
    handle: (_req, ctx, send) =>
      new Promise<void>((resolve) => {
        send(payload);
        ctx.signal.addEventListener("abort", () => resolve(), { once: true });
      }),
  };
  // The agent's own peer-credential reader on Deno (FFI), so the transport work matches the agent's.
  const peerCred = "Deno" in globalThis ? (await import("../../../src/runtime/deno/peer_cred.ts")).peerCredReader() : undefined;
  const h = await serveGRPC({ socketPath, methods: [method], logger: nullLogger, h2FrameGuard: guard === "guard", ...(peerCred ? { peerCred } : {}) });
  process.stdout.write("ready\n");
  const stop = () => void h.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (process.argv[1]?.endsWith("echo_server.ts")) await main();
