/**
 * The `grpc-status-details-bin` trailer of SPIRE's agent authorization failures: a google.rpc.Status whose details
 * hold one `spire.api.types.PermissionDeniedDetails{reason}`, which SPIRE's agent reads to decide between re-attesting
 * and shutting down (pkg/common/nodeutil/node.go). Also the numeric gRPC codes of `spire.api.types.Status`.
 * @module
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import type { ServiceError, StatusName } from "../../core/errors.ts";
import { StatusSchema } from "../../agent/workload/proto/google/rpc/status_pb.ts";
import { PermissionDeniedDetails_Reason, PermissionDeniedDetailsSchema } from "../../agent/workload/proto/spire/api/types/status_pb.ts";
import { CODE } from "../api/entry_api.ts";

/** gRPC status codes by name (https://grpc.github.io/grpc/core/md_doc_statuscodes.html), as the batch results use them. */
export const GRPC_CODE: Readonly<Record<StatusName, number>> = CODE;

/** The encoded google.rpc.Status for an error that carries a PermissionDeniedDetails reason; undefined otherwise. */
export function statusDetails(err: ServiceError): Uint8Array | undefined {
  if (err.reason === undefined) return undefined;
  const reason = PermissionDeniedDetails_Reason[err.reason as keyof typeof PermissionDeniedDetails_Reason];
  if (reason === undefined) return undefined;
  const details = anyPack(PermissionDeniedDetailsSchema, create(PermissionDeniedDetailsSchema, { reason }));
  return toBinary(StatusSchema, create(StatusSchema, { code: GRPC_CODE[err.status], message: err.message, details: [details] }));
}
