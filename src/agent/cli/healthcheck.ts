/** `wisp-agent healthcheck`: grpc.health.v1 Check on the Workload API socket, as spire-agent does. @module */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Command, defineCommand } from "../../core/cli/command.ts";
import { formatError } from "../../core/errors.ts";
import type { WorkloadDialer } from "../../core/ports/workload_client.ts";
import { HEALTH_CHECK } from "../workload/codec.ts";
import { HealthCheckRequestSchema, HealthCheckResponse_ServingStatus, HealthCheckResponseSchema } from "../workload/proto/health_pb.ts";
import { API_SOCKET_FLAG, socketAddress } from "./common.ts";

export function healthcheckCommand(dial: WorkloadDialer): Command {
  return defineCommand({
    name: "healthcheck",
    synopsis: "Determines agent health status",
    flags: [API_SOCKET_FLAG, { name: "shallow", kind: "bool", usage: "Perform a less stringent health check" }, {
      name: "verbose",
      kind: "bool",
      usage: "Print verbose information",
    }] as const,
    examples: ["healthcheck", "healthcheck -socketPath /tmp/wisp-agent/public/api.sock"],
    async run(ctx, { values: v }) {
      const conn = dial(socketAddress(v.socketPath, ctx.env));
      try {
        const res = fromBinary(
          HealthCheckResponseSchema,
          await conn.unary(HEALTH_CHECK, toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema)), {}, 5000),
        );
        if (res.status !== HealthCheckResponse_ServingStatus.SERVING) {
          ctx.env.stderr("Agent is unhealthy: agent is not serving\n");
          return 1;
        }
      } catch (err) {
        ctx.env.stderr(`Agent is unhealthy: ${formatError(err)}\n`);
        return 1;
      } finally {
        conn.close();
      }
      ctx.env.stdout("Agent is healthy.\n");
      return 0;
    },
  });
}
