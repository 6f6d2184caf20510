/** `wisp-agent api validate jwt` (alias `validate jwt`): ValidateJWTSVID with spire-agent's output and errors. @module */
import { create, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { type Command, defineCommand } from "../../core/cli/command.ts";
import { OUTPUT_FLAG } from "../../core/cli/printer.ts";
import { InvalidArgumentError, ServiceError } from "../../core/errors.ts";
import type { WorkloadDialer } from "../../core/ports/workload_client.ts";
import { VALIDATE_JWT_SVID } from "../workload/codec.ts";
import { ValidateJWTSVIDRequestSchema, type ValidateJWTSVIDResponse, ValidateJWTSVIDResponseSchema } from "../workload/proto/workload_pb.ts";
import { API_SOCKET_FLAG, rpcError, SECURITY_HEADER, socketAddress, TIMEOUT_FLAG } from "./common.ts";

/** Object keys sorted at every level, as Go's protojson prints a Struct. */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  return v;
}

export function describeValidation(res: ValidateJWTSVIDResponse): string {
  return `SVID is valid.\nSPIFFE ID : ${res.spiffeId}\nClaims    : ${JSON.stringify(sortKeys(res.claims ?? {}))}\n`;
}

export function validateJWTCommand(deps: { dial: WorkloadDialer }): Command {
  return defineCommand({
    name: "api validate jwt",
    aliases: ["validate jwt"],
    synopsis: "Validates a JWT SVID",
    flags: [
      { name: "audience", kind: "string", usage: "expected audience value", placeholder: "string" },
      { name: "svid", kind: "string", usage: "JWT SVID", placeholder: "string" },
      API_SOCKET_FLAG,
      TIMEOUT_FLAG,
      OUTPUT_FLAG,
    ] as const,
    examples: ["api validate jwt -audience spiffe://example.org/db -svid eyJhbGciOi..."],
    async run(ctx, { values: v }) {
      if (!v.audience) throw new InvalidArgumentError("audience must be specified");
      if (!v.svid) throw new InvalidArgumentError("svid must be specified");
      const conn = deps.dial(socketAddress(v.socketPath, ctx.env));
      let res: ValidateJWTSVIDResponse;
      try {
        const req = toBinary(ValidateJWTSVIDRequestSchema, create(ValidateJWTSVIDRequestSchema, { audience: v.audience, svid: v.svid }));
        res = fromBinary(ValidateJWTSVIDResponseSchema, await conn.unary(VALIDATE_JWT_SVID, req, SECURITY_HEADER, v.timeout));
      } catch (err) {
        if (err instanceof ServiceError && err.status === "INVALID_ARGUMENT") throw new Error(`SVID is not valid: ${err.message}`);
        throw new Error(`unable to validate JWT SVID: ${rpcError(err).message}`);
      } finally {
        conn.close();
      }
      ctx.printer.result(() => describeValidation(res), toJson(ValidateJWTSVIDResponseSchema, res, { useProtoFieldName: true, alwaysEmitImplicit: true }));
      return 0;
    },
  });
}
