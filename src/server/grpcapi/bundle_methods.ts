/**
 * SPIRE's Bundle service (spire.api.server.bundle.v1.Bundle) over gRPC: the server's own bundle (get, append, count)
 * and federated bundles (list with paging, get, batch create/update/set/delete), on bundleAPI
 * (src/server/api/bundle_api.ts). PublishJWTAuthority and PublishWITAuthority are downstream-only and not here.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import { type BundleAPI, type BundleDeleteMode, bundleToJSON } from "../api/bundle_api.ts";
import type { Bundle } from "../datastore/datastore.ts";
import type { Logger } from "../../core/log/logger.ts";
import {
  BatchCreateFederatedBundleResponseSchema,
  BatchDeleteFederatedBundleResponseSchema,
  BatchSetFederatedBundleResponseSchema,
  BatchUpdateFederatedBundleResponseSchema,
  Bundle as BundleService,
  CountBundlesResponseSchema,
  ListFederatedBundlesResponseSchema,
} from "../../agent/workload/proto/spire/api/server/bundle/v1/bundle_pb.ts";
import { type BundleMask, BundleMaskSchema, BundleSchema } from "../../agent/workload/proto/spire/api/types/bundle_pb.ts";
import { applyMask, bundleJSONFromProto, bundleJSONToProto, paginate, status, unary } from "./rpc.ts";

const MODES: readonly BundleDeleteMode[] = ["RESTRICT", "DELETE", "DISSOCIATE"];

const masked = (b: Bundle, mask: BundleMask | undefined) => applyMask(BundleSchema, bundleJSONToProto(bundleToJSON(b)), BundleMaskSchema, mask);

/** Batch results with the output mask applied to each bundle. */
const results = (rs: { status: { code: number; message: string }; bundle?: Bundle }[], mask: BundleMask | undefined) =>
  rs.map((r) => ({ status: status(r.status), ...(r.bundle ? { bundle: masked(r.bundle, mask) } : {}) }));

export function bundleMethods(d: { api: BundleAPI; logger: Logger }): GRPCMethod[] {
  const { api, logger: log } = d;
  const m = BundleService.method;
  return [
    unary(m.countBundles, log, async () => create(CountBundlesResponseSchema, { count: await api.countBundles() })),
    unary(m.getBundle, log, async (req) => masked(await api.getBundle(), req.outputMask)),
    unary(m.appendBundle, log, async (req) => {
      const j = bundleJSONFromProto(create(BundleSchema, { x509Authorities: req.x509Authorities, jwtAuthorities: req.jwtAuthorities }));
      return masked(await api.appendBundle(j), req.outputMask);
    }),
    unary(m.listFederatedBundles, log, async (req) => {
      const page = paginate(await api.listFederatedBundles(), req.pageSize, req.pageToken, (b) => b.trustDomain);
      return create(ListFederatedBundlesResponseSchema, { bundles: page.items.map((b) => masked(b, req.outputMask)), nextPageToken: page.next });
    }),
    unary(m.getFederatedBundle, log, async (req) => masked(await api.getFederatedBundle(req.trustDomain), req.outputMask)),
    unary(m.batchCreateFederatedBundle, log, async (req) =>
      create(BatchCreateFederatedBundleResponseSchema, {
        results: results(await api.batchCreateFederatedBundle(req.bundle.map(bundleJSONFromProto)), req.outputMask),
      })),
    unary(m.batchUpdateFederatedBundle, log, async (req) => {
      const mask = req.inputMask && {
        x509_authorities: req.inputMask.x509Authorities,
        jwt_authorities: req.inputMask.jwtAuthorities,
        refresh_hint: req.inputMask.refreshHint,
      };
      return create(BatchUpdateFederatedBundleResponseSchema, {
        results: results(await api.batchUpdateFederatedBundle(req.bundle.map(bundleJSONFromProto), mask), req.outputMask),
      });
    }),
    unary(m.batchSetFederatedBundle, log, async (req) =>
      create(BatchSetFederatedBundleResponseSchema, {
        results: results(await api.batchSetFederatedBundle(req.bundle.map(bundleJSONFromProto)), req.outputMask),
      })),
    unary(m.batchDeleteFederatedBundle, log, async (req) => {
      const mode = MODES[req.mode];
      if (mode === undefined) throw new InvalidArgumentError(`failed to parse deletion mode: unhandled delete mode "${req.mode}"`);
      const rs = await api.batchDeleteFederatedBundle(req.trustDomains, mode);
      return create(BatchDeleteFederatedBundleResponseSchema, { results: rs.map((r) => ({ status: status(r.status), trustDomain: r.trust_domain })) });
    }),
  ];
}
