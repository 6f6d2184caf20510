/** buildSDSResponse: SPIRE's name mapping, order, quirks and errors, including federated bundles (not yet fed by wisp). @module */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { buildSDSResponse, DEFAULT_SDS_CONFIG, type SDSSnapshot } from "../../../src/agent/sds/sds_response.ts";
import type { Identity } from "../../../src/agent/manager/svid_cache.ts";
import { ServiceError } from "../../../src/core/errors.ts";
import { NodeSchema } from "../../../src/agent/workload/proto/envoy/config/core/v3/base_pb.ts";
import { type Secret, SecretSchema } from "../../../src/agent/workload/proto/envoy/extensions/transport_sockets/tls/v3/secret_pb.ts";
import { SPIFFECertValidatorConfigSchema } from "../../../src/agent/workload/proto/envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config_pb.ts";
import { DiscoveryRequestSchema } from "../../../src/agent/workload/proto/envoy/service/discovery/v3/discovery_pb.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

function identity(id: string, spiffeID: string): Identity {
  return {
    entry: { id, spiffeID, parentID: "spiffe://example.org/node", selectors: [], x509SVIDTTL: 0, dnsNames: [], hint: "", revisionNumber: 0, createdAt: 0 },
    svid: {
      chain: [bytes(`leaf-${id}`), bytes("intermediate")],
      keyPKCS8: bytes(`key-${id}`),
      issuedAt: new Date(0),
      notAfter: new Date(1),
      rotateAt: new Date(0),
      revision: 0,
    },
  };
}

const snap: SDSSnapshot = {
  identities: [identity("a", "spiffe://example.org/one"), identity("b", "spiffe://example.org/two")],
  trustDomainID: "spiffe://example.org",
  bundles: new Map([
    ["spiffe://example.org", [bytes("own-root")]],
    ["spiffe://zeta.org", [bytes("zeta-root")]],
    ["spiffe://alpha.org", [bytes("alpha-root")]],
  ]),
};

function secrets(names: string[], node?: Parameters<typeof create<typeof NodeSchema>>[1]): Secret[] {
  const req = create(DiscoveryRequestSchema, { resourceNames: names, typeUrl: "t", ...(node ? { node: create(NodeSchema, node) } : {}) });
  return buildSDSResponse(DEFAULT_SDS_CONFIG, "3", "abcd0123", req, snap).resources.map((a) => anyUnpack(a, SecretSchema)!);
}

function fails(names: string[], status: string, message: string, node?: Parameters<typeof create<typeof NodeSchema>>[1]): void {
  try {
    secrets(names, node);
  } catch (err) {
    assert.instance(err, ServiceError);
    assert.is((err as ServiceError).status, status);
    assert.is((err as ServiceError).message, message);
    return;
  }
  assert.unreachable(`${JSON.stringify(names)} should fail`);
}

test("empty names: own bundle, federated bundles, then identities; the response echoes type_url, version and nonce", () => {
  const req = create(DiscoveryRequestSchema, { typeUrl: "anything/at.all" });
  const r = buildSDSResponse(DEFAULT_SDS_CONFIG, "3", "abcd0123", req, snap);
  assert.is(r.typeUrl, "anything/at.all");
  assert.is(r.versionInfo, "3");
  assert.is(r.nonce, "abcd0123");
  const names = r.resources.map((a) => anyUnpack(a, SecretSchema)!.name);
  assert.equal(names, ["spiffe://example.org", "spiffe://zeta.org", "spiffe://alpha.org", "spiffe://example.org/one", "spiffe://example.org/two"]);
});

test("tls_certificate: PEM chain leaf first and a PKCS#8 PRIVATE KEY block", () => {
  const [s] = secrets(["default"]);
  assert.is(s!.name, "default");
  assert.is(s!.type.case, "tlsCertificate");
  const tls = s!.type.value as { certificateChain: { specifier: { value: Uint8Array } }; privateKey: { specifier: { value: Uint8Array } } };
  const chain = new TextDecoder().decode(tls.certificateChain.specifier.value);
  assert.is((chain.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length, 2);
  assert.ok(chain.indexOf(btoa("leaf-a")) < chain.indexOf(btoa("intermediate")));
  assert.match(new TextDecoder().decode(tls.privateKey.specifier.value), /^-----BEGIN PRIVATE KEY-----\n/);
});

test("ALL lists every trust domain sorted by name in one SPIFFE validator", () => {
  const [s] = secrets(["ALL"]);
  const vc = s!.type.value as { customValidatorConfig: { name: string; typedConfig: Parameters<typeof anyUnpack>[0] } };
  assert.is(vc.customValidatorConfig.name, "envoy.tls.cert_validator.spiffe");
  const cfg = anyUnpack(vc.customValidatorConfig.typedConfig, SPIFFECertValidatorConfigSchema)!;
  assert.equal(cfg.trustDomains.map((t) => t.name), ["alpha.org", "example.org", "zeta.org"]);
  assert.is(cfg.trustBundles, undefined);
});

test("quirks: one of {own td, ROOTCA, ALL}; identity[0] by ID and default gives only the ID; Go %q list in the error", () => {
  fails(["ROOTCA", "ALL"], "INVALID_ARGUMENT", `workload is not authorized for the requested identities ["ALL"]`);
  fails(["spiffe://example.org/one", "default"], "INVALID_ARGUMENT", `workload is not authorized for the requested identities ["default"]`);
  fails(["spiffe://other.org", 'b"q'], "INVALID_ARGUMENT", `workload is not authorized for the requested identities ["b\\"q" "spiffe://other.org"]`);
  assert.equal(secrets(["spiffe://alpha.org", "", "spiffe://example.org/two"]).map((s) => s.name), ["spiffe://alpha.org", "spiffe://example.org/two"]);
});

test("rootCA mode (old Envoy): trusted_ca, and ALL fails Internal", () => {
  const old = { userAgentVersionType: { case: "userAgentBuildVersion" as const, value: { version: { majorNumber: 1, minorNumber: 17, patch: 0 } } } };
  const [s] = secrets(["ROOTCA"], old as never);
  assert.is((s!.type.value as { trustedCa?: unknown }).trustedCa !== undefined, true);
  fails(["ALL"], "INTERNAL", `unable to use "SPIFFE validator" on Envoy below 1.17`, old as never);
});

test.run();
