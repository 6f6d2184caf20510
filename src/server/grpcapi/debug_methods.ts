/**
 * SPIRE's server Debug service (spire.api.server.debug.v1.Debug/GetInfo): the server SVID's chain up to its root,
 * uptime and counts of agents, entries and bundles, cached for 5 s as SPIRE does (pkg/server/api/debug/v1/service.go).
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { equalBytes } from "../../core/encoding.ts";
import { NotFoundError } from "../../core/errors.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { type CertificateInfo, parseCertificate } from "../../core/x509/mod.ts";
import type { SubjectFields } from "../../core/x509/names.ts";
import type { DataStore } from "../datastore/datastore.ts";
import { Debug, type GetInfoResponse, GetInfoResponseSchema } from "../../agent/workload/proto/spire/api/server/debug/v1/debug_pb.ts";
import { unary } from "./rpc.ts";

export interface DebugMethodsDeps {
  ds: DataStore;
  trustDomain: spiffeid.TrustDomain;
  clock: Clock;
  logger: Logger;
  /** When the server started, for `uptime`. */
  startedAt: Date;
  /** The server's current X509-SVID chain (DER, leaf first). */
  serverSVIDChain: () => Uint8Array[];
}

const CACHE_MS = 5000;

/** Go's pkix.Name.String(): the attributes in reverse encoding order, comma-separated. */
export function goNameString(s: SubjectFields): string {
  const parts: string[] = [];
  if (s.serialNumber) parts.push(`SERIALNUMBER=${s.serialNumber}`);
  if (s.CN) parts.push(`CN=${s.CN}`);
  if (s.OU) parts.push(`OU=${s.OU}`);
  if (s.O) parts.push(`O=${s.O}`);
  if (s.C) parts.push(`C=${s.C}`);
  return parts.join(",");
}

/** The chain from the leaf to the bundle root that issued its last certificate (as x509svid.Verify's first chain). */
function chainToRoot(chain: Uint8Array[], roots: Uint8Array[]): CertificateInfo[] {
  const certs = chain.map((d) => parseCertificate(d));
  const last = certs[certs.length - 1];
  if (last && !equalBytes(last.issuerDER, last.subjectDER)) {
    const root = roots.map((d) => parseCertificate(d)).find((r) =>
      equalBytes(r.subjectDER, last.issuerDER) && (!last.aki || !r.ski || equalBytes(last.aki, r.ski))
    );
    if (root) certs.push(root);
  }
  return certs;
}

export function debugMethods(d: DebugMethodsDeps): GRPCMethod[] {
  let cached: { at: number; res: GetInfoResponse } | undefined;
  return [
    unary(Debug.method.getInfo, d.logger, async () => {
      const now = d.clock.now().getTime();
      if (cached && now - cached.at < CACHE_MS) return cached.res;
      const [agents, entries, bundles] = await Promise.all([d.ds.countAttestedNodes(), d.ds.listEntries(), d.ds.listBundles()]);
      const own = bundles.find((b) => b.trustDomain === d.trustDomain.name);
      if (!own) throw new NotFoundError("trust domain bundle not found");
      const svidChain = chainToRoot(d.serverSVIDChain(), own.x509Authorities).map((c) => {
        let id: { trustDomain: string; path: string } | undefined;
        if (c.uris.length === 1) {
          try {
            const sid = spiffeid.fromString(c.uris[0]!);
            id = { trustDomain: sid.trustDomain.name, path: sid.path };
          } catch {
            id = undefined;
          }
        }
        return { ...(id ? { id } : {}), expiresAt: BigInt(Math.floor(c.notAfter.getTime() / 1000)), subject: goNameString(c.subject) };
      });
      const res = create(GetInfoResponseSchema, {
        svidChain,
        uptime: Math.floor((now - d.startedAt.getTime()) / 1000),
        agentsCount: agents,
        entriesCount: entries.length,
        federatedBundlesCount: bundles.length,
      });
      cached = { at: now, res };
      return res;
    }),
  ];
}
