/**
 * SPIRE's agent Debug service (spire.agent.debug.v1.Debug/GetInfo) on the admin socket: the agent SVID chain up to
 * its root, uptime, cache counts and the last sync, cached for 5 s as SPIRE does (pkg/agent/api/debug/v1/service.go).
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { formatError, InternalError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { parseCertificate, verifyX509SVID } from "../../core/x509/mod.ts";
import type { SubjectFields } from "../../core/x509/names.ts";
import type { AgentManager } from "../manager/manager.ts";
import { unaryMethod } from "../workload/codec.ts";
import { GET_INFO } from "./paths.ts";
import {
  GetInfoRequestSchema,
  type GetInfoResponse,
  type GetInfoResponse_Cert,
  GetInfoResponse_CertSchema,
  GetInfoResponseSchema,
} from "../workload/proto/spire/api/agent/debug/v1/debug_pb.ts";
import { SPIFFEIDSchema } from "../workload/proto/spire/api/types/spiffeid_pb.ts";

const CACHE_EXPIRY_MS = 5000;

export interface DebugServiceConfig {
  manager: AgentManager;
  clock: Clock;
  /** When the agent started; uptime counts from here. */
  startedAt: Date;
  logger: Logger;
}

/** The Debug methods. */
export function debugMethods(cfg: DebugServiceConfig): GRPCMethod[] {
  const log = cfg.logger.with({ subsystem_name: "debug_api" });
  let cached: { at: number; resp: GetInfoResponse } | undefined;
  return [
    unaryMethod({ req: GetInfoRequestSchema, res: GetInfoResponseSchema, path: GET_INFO }, async () => {
      const now = cfg.clock.now();
      if (cached && now.getTime() - cached.at < CACHE_EXPIRY_MS) return cached.resp;
      const m = cfg.manager;
      let chain: Uint8Array[];
      try {
        chain = (await verifyX509SVID(m.agentSVIDChain(), m.bundle().roots, now)).chain;
      } catch (err) {
        log.error("Failed to verify agent SVID", { [F.ERROR]: formatError(err) });
        throw new InternalError(`failed to verify agent SVID: ${formatError(err)}`, { cause: err });
      }
      const x509 = m.stats().svids;
      const resp = create(GetInfoResponseSchema, {
        svidChain: chain.map(certInfo),
        uptime: Math.floor((now.getTime() - cfg.startedAt.getTime()) / 1000),
        svidsCount: x509,
        cachedX509SvidsCount: x509,
        cachedJwtSvidsCount: m.countJWTSVIDs(),
        // wisp has no SVIDStore plugins.
        cachedSvidstoreX509SvidsCount: 0,
        lastSyncSuccess: BigInt(m.lastSync ? Math.floor(m.lastSync.getTime() / 1000) : 0),
      });
      cached = { at: now.getTime(), resp };
      return resp;
    }),
  ];
}

function certInfo(der: Uint8Array): GetInfoResponse_Cert {
  const c = parseCertificate(der);
  let id;
  // CA certificates carry the trust domain ID or no URI; only a valid SPIFFE ID is reported, as SPIRE's IDFromCert.
  if (c.uris.length === 1) {
    try {
      const parsed = spiffeid.fromString(c.uris[0]!);
      id = create(SPIFFEIDSchema, { trustDomain: parsed.trustDomain.name, path: parsed.path });
    } catch {
      id = undefined;
    }
  }
  return create(GetInfoResponse_CertSchema, { id, expiresAt: BigInt(Math.floor(c.notAfter.getTime() / 1000)), subject: goName(c.subject) });
}

/** Go's pkix.Name.String(): the RDNs last first, joined by ",", values escaped as RFC 2253 asks. */
export function goName(s: SubjectFields): string {
  const parts: [string, string | undefined][] = [["SERIALNUMBER", s.serialNumber], ["CN", s.CN], ["OU", s.OU], ["O", s.O], ["C", s.C]];
  return parts.filter((p): p is [string, string] => p[1] !== undefined && p[1] !== "").map(([k, v]) => `${k}=${escape(v)}`).join(",");
}

function escape(v: string): string {
  let out = "";
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    const edge = (i === 0 && (c === " " || c === "#")) || (i === v.length - 1 && c === " ");
    out += edge || ',+"\\<>;'.includes(c) ? `\\${c}` : c;
  }
  return out;
}
