/**
 * wisp's records as SPIRE's `spire.api.types` protobuf messages (pkg/server/api/{bundle,entry,x509svid}.go), with
 * SPIRE's output-mask rule: no mask → every field; a mask → only its true fields, `id` always.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { toHex } from "../../core/encoding.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { parseCertificate } from "../../core/x509/mod.ts";
import { type Bundle as BundlePB, BundleSchema, JWTKeySchema, X509CertificateSchema } from "../../agent/workload/proto/spire/api/types/bundle_pb.ts";
import { type Entry as EntryPB, type EntryMask, EntrySchema } from "../../agent/workload/proto/spire/api/types/entry_pb.ts";
import { type SPIFFEID, SPIFFEIDSchema } from "../../agent/workload/proto/spire/api/types/spiffeid_pb.ts";
import { SelectorSchema } from "../../agent/workload/proto/spire/api/types/selector_pb.ts";
import { type X509SVID, X509SVIDSchema } from "../../agent/workload/proto/spire/api/types/x509svid_pb.ts";
import type { Bundle, RegistrationEntry } from "../datastore/datastore.ts";

/** `spiffe://td/path` as `{trust_domain, path}`. */
export function spiffeIDToProto(id: string): SPIFFEID {
  const parsed = spiffeid.fromString(id);
  return create(SPIFFEIDSchema, { trustDomain: parsed.trustDomain.name, path: parsed.path });
}

/** An issued X509-SVID: its chain (leaf first), ID and expiry in unix seconds. */
export function x509SVIDToProto(id: string, s: { chain: Uint8Array[]; notAfter: Date }): X509SVID {
  return create(X509SVIDSchema, {
    id: spiffeIDToProto(id),
    certChain: s.chain,
    expiresAt: BigInt(Math.floor(s.notAfter.getTime() / 1000)),
  });
}

/** SPIRE's BundleToProto: taints travel as `tainted` on each authority. */
export function bundleToProto(b: Bundle): BundlePB {
  const taintedX509 = new Set(b.taintedX509 ?? []);
  const taintedJWT = new Set(b.taintedJWT ?? []);
  return create(BundleSchema, {
    trustDomain: b.trustDomain,
    x509Authorities: b.x509Authorities.map((asn1) => {
      let tainted = false;
      if (taintedX509.size > 0) {
        const ski = parseCertificate(asn1).ski;
        tainted = ski !== undefined && taintedX509.has(toHex(ski));
      }
      return create(X509CertificateSchema, { asn1, tainted });
    }),
    jwtAuthorities: b.jwtKeys.map((k) =>
      create(JWTKeySchema, { publicKey: k.publicKey, keyId: k.kid, expiresAt: BigInt(k.notAfter), tainted: taintedJWT.has(k.kid) })
    ),
    refreshHint: BigInt(b.refreshHint),
    sequenceNumber: BigInt(b.sequence),
  });
}

/** SPIRE's RegistrationEntryToProto with an output mask; `id` is always set. */
export function entryToProto(e: RegistrationEntry, mask?: EntryMask): EntryPB {
  const all = mask === undefined;
  const m = (field: keyof EntryMask) => all || mask[field] === true;
  return create(EntrySchema, {
    id: e.id,
    ...(m("spiffeId") ? { spiffeId: spiffeIDToProto(e.spiffeID) } : {}),
    ...(m("parentId") ? { parentId: spiffeIDToProto(e.parentID) } : {}),
    ...(m("selectors") ? { selectors: e.selectors.map((s) => create(SelectorSchema, s)) } : {}),
    ...(m("x509SvidTtl") ? { x509SvidTtl: e.x509SVIDTTL } : {}),
    ...(m("jwtSvidTtl") ? { jwtSvidTtl: e.jwtSVIDTTL } : {}),
    ...(m("federatesWith") ? { federatesWith: e.federatesWith ?? [] } : {}),
    ...(m("admin") ? { admin: e.admin } : {}),
    ...(m("downstream") ? { downstream: e.downstream } : {}),
    ...(m("expiresAt") ? { expiresAt: BigInt(e.expiresAt ?? 0) } : {}),
    ...(m("dnsNames") ? { dnsNames: e.dnsNames } : {}),
    ...(m("revisionNumber") ? { revisionNumber: BigInt(e.revisionNumber) } : {}),
    ...(m("hint") ? { hint: e.hint } : {}),
    ...(m("createdAt") ? { createdAt: BigInt(e.createdAt) } : {}),
  });
}
