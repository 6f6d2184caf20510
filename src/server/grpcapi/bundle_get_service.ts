/**
 * The agent-facing reads of SPIRE's `spire.api.server.bundle.v1.Bundle` service: GetBundle (anyone, so an agent can
 * bootstrap) and GetFederatedBundle (local, admins, agents), with SPIRE's output mask and texts
 * (pkg/server/api/bundle/v1/service.go).
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { InvalidArgumentError, NotFoundError } from "../../core/errors.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { unaryOf } from "./descriptor_methods.ts";
import { Bundle } from "../../agent/workload/proto/spire/api/server/bundle/v1/bundle_pb.ts";
import { type Bundle as BundlePB, type BundleMask, BundleSchema } from "../../agent/workload/proto/spire/api/types/bundle_pb.ts";
import type { DataStore } from "../datastore/datastore.ts";
import { bundleToProto } from "./proto_types.ts";

export interface BundleGetServiceDeps {
  ds: DataStore;
  trustDomain: spiffeid.TrustDomain;
}

/** SPIRE's bundle output mask: `trust_domain` always, the rest only when the mask asks for it. */
function applyMask(b: BundlePB, mask: BundleMask | undefined): BundlePB {
  if (mask === undefined) return b;
  return create(BundleSchema, {
    trustDomain: b.trustDomain,
    ...(mask.x509Authorities ? { x509Authorities: b.x509Authorities } : {}),
    ...(mask.jwtAuthorities ? { jwtAuthorities: b.jwtAuthorities } : {}),
    ...(mask.refreshHint ? { refreshHint: b.refreshHint } : {}),
    ...(mask.sequenceNumber ? { sequenceNumber: b.sequenceNumber } : {}),
  });
}

/** GetBundle and GetFederatedBundle; wrap them with authorizeMethods. */
export function bundleGetService(d: BundleGetServiceDeps): GRPCMethod[] {
  const get = unaryOf(
    Bundle.method.getBundle,
    async (req) => {
      const b = await d.ds.fetchBundle(d.trustDomain.name);
      if (!b) throw new NotFoundError("bundle not found");
      return applyMask(bundleToProto(b), req.outputMask);
    },
  );

  const getFederated = unaryOf(
    Bundle.method.getFederatedBundle,
    async (req) => {
      let td: spiffeid.TrustDomain;
      try {
        td = spiffeid.trustDomainFromString(req.trustDomain);
      } catch (cause) {
        throw new InvalidArgumentError(`trust domain argument is not valid: ${(cause as Error).message}`, { cause });
      }
      if (td.name === d.trustDomain.name) throw new InvalidArgumentError("getting a federated bundle for the server's own trust domain is not allowed");
      const b = await d.ds.fetchBundle(td.name);
      if (!b) throw new NotFoundError("bundle not found");
      return applyMask(bundleToProto(b), req.outputMask);
    },
  );

  return [get, getFederated];
}
