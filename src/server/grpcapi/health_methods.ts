/**
 * grpc.health.v1.Health/Check on the server's admin socket, as SPIRE's (pkg/server/api/health/v1/service.go): only the
 * server as a whole ("" service), SERVING while the trust domain's bundle can be read.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { formatError, InvalidArgumentError } from "../../core/errors.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import type * as spiffeid from "../../core/spiffeid/mod.ts";
import type { DataStore } from "../datastore/datastore.ts";
import { Health, HealthCheckResponse_ServingStatus, HealthCheckResponseSchema } from "../../agent/workload/proto/health_pb.ts";
import { unary } from "./rpc.ts";

export function healthMethods(d: { ds: DataStore; trustDomain: spiffeid.TrustDomain; logger: Logger }): GRPCMethod[] {
  const log = d.logger.with({ subsystem_name: "api", service: "Health", method: "Check" });
  return [
    unary(Health.method.check, d.logger, async (req) => {
      if (req.service !== "") throw new InvalidArgumentError("per-service health is not supported");
      let reason = "";
      let error: string | undefined;
      try {
        if (!(await d.ds.fetchBundle(d.trustDomain.name))) reason = "bundle is missing";
      } catch (err) {
        reason = "unable to fetch bundle";
        error = formatError(err);
      }
      if (reason !== "") log.warn("Health check failed", { reason, ...(error ? { error } : {}) });
      return create(HealthCheckResponseSchema, {
        status: reason === "" ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING,
      });
    }),
  ];
}
