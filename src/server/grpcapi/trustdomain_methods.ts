/**
 * SPIRE's TrustDomain service (spire.api.server.trustdomain.v1.TrustDomain) over gRPC: federation relationships
 * (list with paging, get, batch create/update/delete) on trustDomainAPI, and RefreshBundle on bundleAPI.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import type { Logger } from "../../core/log/logger.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import type { BundleAPI } from "../api/bundle_api.ts";
import type { FederationRelationshipJSON, RelationshipResult, TrustDomainAPI } from "../api/trustdomain_api.ts";
import {
  BatchCreateFederationRelationshipResponseSchema,
  BatchDeleteFederationRelationshipResponseSchema,
  BatchUpdateFederationRelationshipResponseSchema,
  ListFederationRelationshipsResponseSchema,
  TrustDomain,
} from "../../agent/workload/proto/spire/api/server/trustdomain/v1/trustdomain_pb.ts";
import {
  type FederationRelationship,
  type FederationRelationshipMask,
  FederationRelationshipMaskSchema,
  FederationRelationshipSchema,
} from "../../agent/workload/proto/spire/api/types/federationrelationship_pb.ts";
import { applyMask, bundleJSONFromProto, bundleJSONToProto, paginate, status, unary } from "./rpc.ts";

/** A relationship in the JSON API's shape as `types.FederationRelationship`. */
export function relationshipJSONToProto(r: FederationRelationshipJSON): FederationRelationship {
  return create(FederationRelationshipSchema, {
    trustDomain: r.trust_domain,
    bundleEndpointUrl: r.bundle_endpoint_url,
    bundleEndpointProfile: r.https_spiffe
      ? { case: "httpsSpiffe", value: { endpointSpiffeId: r.https_spiffe.endpoint_spiffe_id } }
      : r.https_web
      ? { case: "httpsWeb", value: {} }
      : { case: undefined },
    ...(r.trust_domain_bundle ? { trustDomainBundle: bundleJSONToProto(r.trust_domain_bundle) } : {}),
  });
}

/** `types.FederationRelationship` in the JSON API's shape (the plain functions and the CLI take it). */
export function relationshipJSONFromProto(r: FederationRelationship): FederationRelationshipJSON {
  const p = r.bundleEndpointProfile;
  return {
    trust_domain: r.trustDomain,
    bundle_endpoint_url: r.bundleEndpointUrl,
    ...(p.case === "httpsSpiffe" ? { https_spiffe: { endpoint_spiffe_id: p.value.endpointSpiffeId } } : {}),
    ...(p.case === "httpsWeb" ? { https_web: {} } : {}),
    ...(r.trustDomainBundle ? { trust_domain_bundle: bundleJSONFromProto(r.trustDomainBundle) } : {}),
  };
}

const masked = (r: FederationRelationshipJSON, mask: FederationRelationshipMask | undefined) =>
  applyMask(FederationRelationshipSchema, relationshipJSONToProto(r), FederationRelationshipMaskSchema, mask);

const results = (rs: RelationshipResult[], mask: FederationRelationshipMask | undefined) =>
  rs.map((r) => ({
    status: status(r.status),
    ...(r.federation_relationship ? { federationRelationship: masked(r.federation_relationship, mask) } : {}),
  }));

export function trustDomainMethods(d: { api: TrustDomainAPI; bundles: BundleAPI; logger: Logger }): GRPCMethod[] {
  const { api, logger: log } = d;
  const m = TrustDomain.method;
  return [
    unary(m.listFederationRelationships, log, async (req) => {
      const page = paginate(await api.listFederationRelationships(), req.pageSize, req.pageToken, (r) => r.trust_domain);
      return create(ListFederationRelationshipsResponseSchema, {
        federationRelationships: page.items.map((r) => masked(r, req.outputMask)),
        nextPageToken: page.next,
      });
    }),
    unary(m.getFederationRelationship, log, async (req) => masked(await api.getFederationRelationship(req.trustDomain), req.outputMask)),
    unary(m.batchCreateFederationRelationship, log, async (req) =>
      create(BatchCreateFederationRelationshipResponseSchema, {
        results: results(await api.batchCreateFederationRelationship(req.federationRelationships.map(relationshipJSONFromProto)), req.outputMask),
      })),
    unary(m.batchUpdateFederationRelationship, log, async (req) => {
      const mask = req.inputMask && {
        bundle_endpoint_url: req.inputMask.bundleEndpointUrl,
        bundle_endpoint_profile: req.inputMask.bundleEndpointProfile,
        trust_domain_bundle: req.inputMask.trustDomainBundle,
      };
      return create(BatchUpdateFederationRelationshipResponseSchema, {
        results: results(await api.batchUpdateFederationRelationship(req.federationRelationships.map(relationshipJSONFromProto), mask), req.outputMask),
      });
    }),
    unary(m.batchDeleteFederationRelationship, log, async (req) => {
      const rs = await api.batchDeleteFederationRelationship(req.trustDomains);
      return create(BatchDeleteFederationRelationshipResponseSchema, { results: rs.map((r) => ({ status: status(r.status), trustDomain: r.trust_domain })) });
    }),
    unary(m.refreshBundle, log, async (req) => {
      await d.bundles.refreshBundle(req.trustDomain);
      return create(EmptySchema);
    }),
  ];
}
