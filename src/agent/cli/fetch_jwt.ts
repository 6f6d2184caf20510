/** `wisp-agent api fetch jwt` (alias `fetch jwt`): a JWT-SVID and the JWT bundles, printed as spire-agent does. @module */
import { create, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { type Command, defineCommand } from "../../core/cli/command.ts";
import { OUTPUT_FLAG } from "../../core/cli/printer.ts";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { WorkloadDialer } from "../../core/ports/workload_client.ts";
import { FETCH_JWT_BUNDLES, FETCH_JWT_SVID } from "../workload/codec.ts";
import {
  JWTBundlesRequestSchema,
  type JWTBundlesResponse,
  JWTBundlesResponseSchema,
  JWTSVIDRequestSchema,
  type JWTSVIDResponse,
  JWTSVIDResponseSchema,
} from "../workload/proto/workload_pb.ts";
import { API_SOCKET_FLAG, rpcError, SECURITY_HEADER, socketAddress, TIMEOUT_FLAG } from "./common.ts";
import { DeadlineExceededError } from "./deadline.ts";
import { firstMessage } from "./first_message.ts";

/** SPIRE's printPrettyResult for `fetch jwt`. */
export function describeJWT(svids: JWTSVIDResponse, bundles: JWTBundlesResponse): string {
  let out = "";
  for (const s of svids.svids) {
    out += `token(${s.spiffeId}):\n\t${s.svid}\n`;
    if (s.hint) out += `hint(${s.spiffeId}):\n\t${s.hint}\n`;
  }
  for (const [td, jwks] of Object.entries(bundles.bundles)) out += `bundle(${td}):\n\t${new TextDecoder().decode(jwks)}\n`;
  return out;
}

export function fetchJWTCommand(deps: { dial: WorkloadDialer }): Command {
  return defineCommand({
    name: "api fetch jwt",
    aliases: ["fetch jwt"],
    synopsis: "Fetches a JWT SVID from the Workload API",
    flags: [
      { name: "audience", kind: "stringList", usage: "comma separated list of audience values", placeholder: "value" },
      { name: "spiffeID", kind: "string", usage: "SPIFFE ID subject (optional)", placeholder: "string" },
      API_SOCKET_FLAG,
      TIMEOUT_FLAG,
      OUTPUT_FLAG,
    ] as const,
    examples: ["api fetch jwt -audience spiffe://example.org/db", "fetch jwt -audience a,b -spiffeID spiffe://example.org/web -output json"],
    async run(ctx, { values: v }) {
      const audience = v.audience.flatMap((a) => a.split(",")).filter((a) => a !== "");
      if (audience.length === 0) throw new InvalidArgumentError("audience must be specified");
      const conn = deps.dial(socketAddress(v.socketPath, ctx.env));
      let bundles: JWTBundlesResponse;
      let svids: JWTSVIDResponse;
      try {
        const req = toBinary(JWTBundlesRequestSchema, create(JWTBundlesRequestSchema));
        bundles = fromBinary(JWTBundlesResponseSchema, await firstMessage(conn, FETCH_JWT_BUNDLES, req, SECURITY_HEADER, v.timeout));
        const svidReq = toBinary(JWTSVIDRequestSchema, create(JWTSVIDRequestSchema, { audience, spiffeId: v.spiffeID ?? "" }));
        svids = fromBinary(JWTSVIDResponseSchema, await conn.unary(FETCH_JWT_SVID, svidReq, SECURITY_HEADER, v.timeout));
      } catch (err) {
        throw err instanceof DeadlineExceededError ? err : rpcError(err);
      } finally {
        conn.close();
      }
      const opts = { useProtoFieldName: true, alwaysEmitImplicit: true } as const;
      ctx.printer.result(() => describeJWT(svids, bundles), [toJson(JWTSVIDResponseSchema, svids, opts), toJson(JWTBundlesResponseSchema, bundles, opts)]);
      return 0;
    },
  });
}
