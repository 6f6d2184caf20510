/** The FetchX509SVID message for a set of identities. @module */
import { create } from "@bufbuild/protobuf";
import { concatDER } from "../../core/x509/pem.ts";
import type { FederatedBundle, Identity } from "../manager/svid_cache.ts";
import { type X509SVIDResponse, X509SVIDResponseSchema, X509SVIDSchema } from "./proto/workload_pb.ts";

export function x509SVIDResponse(ids: Identity[], roots: Uint8Array[], federated: FederatedBundle[] = []): X509SVIDResponse {
  const bundle = concatDER(roots);
  return create(X509SVIDResponseSchema, {
    federatedBundles: Object.fromEntries(federated.map((f) => [f.trustDomain, concatDER(f.roots)])),
    svids: ids.map((i) =>
      create(X509SVIDSchema, {
        spiffeId: i.entry.spiffeID,
        x509Svid: concatDER(i.svid.chain),
        x509SvidKey: i.svid.keyPKCS8,
        bundle,
        hint: i.entry.hint,
      })
    ),
  });
}
