/**
 * `wisp-agent api watch`: prints every X509-SVID update as it arrives, reconnecting with SPIRE's linear backoff
 * (1 s, 2 s, … up to 30 s) until interrupted; an InvalidArgument answer is final, as in go-spiffe.
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Command, defineCommand } from "../../core/cli/command.ts";
import { formatError, ServiceError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { WorkloadDialer } from "../../core/ports/workload_client.ts";
import { FETCH_X509_SVID } from "../workload/codec.ts";
import { X509SVIDRequestSchema, X509SVIDResponseSchema } from "../workload/proto/workload_pb.ts";
import { API_SOCKET_FLAG, rpcError, SECURITY_HEADER, socketAddress } from "./common.ts";
import { describe } from "./fetch_x509.ts";

export function watchCommand(deps: { dial: WorkloadDialer; clock: Clock }): Command {
  return defineCommand({
    name: "api watch",
    aliases: ["watch"],
    synopsis: "Attaches to the Workload API and prints updates as they're received",
    flags: [API_SOCKET_FLAG] as const,
    examples: ["api watch", "api watch -socketPath /tmp/wisp-agent/public/api.sock"],
    async run(ctx, { values: v }) {
      const addr = socketAddress(v.socketPath, ctx.env);
      const signal = ctx.env.signal;
      let backoff = 0;
      while (!signal.aborted) {
        const conn = deps.dial(addr);
        let start = deps.clock.now().getTime();
        try {
          await conn.serverStream(FETCH_X509_SVID, toBinary(X509SVIDRequestSchema, create(X509SVIDRequestSchema)), SECURITY_HEADER, (bytes) => {
            backoff = 0;
            const now = deps.clock.now().getTime();
            ctx.env.stdout(describe(fromBinary(X509SVIDResponseSchema, bytes), now - start) + "\n");
            start = now;
          }, signal);
        } catch (err) {
          if (signal.aborted) break;
          if (err instanceof ServiceError && err.status === "INVALID_ARGUMENT") throw rpcError(err);
          backoff = Math.min(backoff + 1, 30);
          ctx.env.stderr(`Failed to fetch X509-SVID: ${formatError(rpcError(err))}; retrying in ${backoff}s\n`);
        } finally {
          conn.close();
        }
        if (signal.aborted) break;
        await deps.clock.sleep(Math.max(backoff, 1) * 1000, signal).catch(() => {});
      }
      return 0;
    },
  });
}
