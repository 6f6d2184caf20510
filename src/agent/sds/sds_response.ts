/** Envoy SDS v3 resources from a workload's identities and bundles, named and encoded as SPIRE's agent does. @module */
import { create, type JsonValue } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { InternalError, InvalidArgumentError, NotFoundError } from "../../core/errors.ts";
import { toPEM } from "../../core/x509/pem.ts";
import type { SDSConfig } from "./sds_config.ts";
import type { Identity } from "../manager/svid_cache.ts";
import { DataSourceSchema, type Node } from "../workload/proto/envoy/config/core/v3/base_pb.ts";
import { TypedExtensionConfigSchema } from "../workload/proto/envoy/config/core/v3/extension_pb.ts";
import { CertificateValidationContextSchema, TlsCertificateSchema } from "../workload/proto/envoy/extensions/transport_sockets/tls/v3/common_pb.ts";
import { type Secret, SecretSchema } from "../workload/proto/envoy/extensions/transport_sockets/tls/v3/secret_pb.ts";
import {
  SPIFFECertValidatorConfig_TrustDomainSchema,
  SPIFFECertValidatorConfigSchema,
} from "../workload/proto/envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config_pb.ts";
import { type DiscoveryRequest, type DiscoveryResponse, DiscoveryResponseSchema } from "../workload/proto/envoy/service/discovery/v3/discovery_pb.ts";

export { DEFAULT_SDS_CONFIG, type SDSConfig } from "./sds_config.ts";

/** What one workload may see: its identities (Workload API order) and bundles keyed `spiffe://<td>`. */
export interface SDSSnapshot {
  identities: Identity[];
  /** `spiffe://<td>` of the agent's own trust domain. */
  trustDomainID: string;
  /** X.509 authorities (DER) per trust domain ID: the own one, then any federated ones. */
  bundles: Map<string, Uint8Array[]>;
}

const SPIFFE_VALIDATOR = "envoy.tls.cert_validator.spiffe";
const DISABLE_KEY = "disable_spiffe_cert_validation";

/**
 * Builds the response for `req` (SPIRE sdsv3 buildResponse): empty names ask for everything, each other name must be
 * served or the whole call fails. `nonce` is empty for FetchSecrets.
 * @throws {InvalidArgumentError} "workload is not authorized for the requested identities [...]"
 * @throws {NotFoundError | InternalError} when a bundle is missing, or ALL is asked for without the SPIFFE validator
 */
export function buildSDSResponse(cfg: SDSConfig, versionInfo: string, nonce: string, req: DiscoveryRequest, snap: SDSSnapshot): DiscoveryResponse {
  const names = new Set(req.resourceNames.filter((n) => n !== ""));
  const all = names.size === 0;
  const spiffe = !spiffeValidationDisabled(cfg, req.node) && supportsSPIFFEValidator(req.node);
  const resources: Secret[] = [];
  const own = snap.trustDomainID;
  // One of these three at most, in this order, as SPIRE's switch does.
  if (all || names.has(own)) {
    resources.push(validationSecret(own, own, snap.bundles, spiffe));
    names.delete(own);
  } else if (names.has(cfg.defaultBundleName)) {
    resources.push(validationSecret(cfg.defaultBundleName, own, snap.bundles, spiffe));
    names.delete(cfg.defaultBundleName);
  } else if (names.has(cfg.defaultAllBundlesName)) {
    resources.push(allBundlesSecret(cfg.defaultAllBundlesName, snap.bundles, spiffe));
    names.delete(cfg.defaultAllBundlesName);
  }
  for (const td of snap.bundles.keys()) {
    if (td === own || !(all || names.has(td))) continue;
    resources.push(validationSecret(td, td, snap.bundles, spiffe));
    names.delete(td);
  }
  snap.identities.forEach((id, i) => {
    const spiffeID = id.entry.spiffeID;
    if (all || names.has(spiffeID)) {
      resources.push(tlsCertificateSecret(spiffeID, id));
      names.delete(spiffeID);
    } else if (i === 0 && names.has(cfg.defaultSVIDName)) {
      resources.push(tlsCertificateSecret(cfg.defaultSVIDName, id));
      names.delete(cfg.defaultSVIDName);
    }
  });
  if (names.size > 0) {
    throw new InvalidArgumentError(`workload is not authorized for the requested identities ${goQuoteList([...names].sort())}`);
  }
  return create(DiscoveryResponseSchema, {
    versionInfo,
    nonce,
    typeUrl: req.typeUrl,
    resources: resources.map((s) => anyPack(SecretSchema, s)),
  });
}

/** Go's `%q` of a string slice: `["a" "b"]`. */
function goQuoteList(names: string[]): string {
  return `[${names.map((n) => JSON.stringify(n)).join(" ")}]`;
}

function inline(bytes: Uint8Array) {
  return create(DataSourceSchema, { specifier: { case: "inlineBytes", value: bytes } });
}

function pemCertificates(ders: Uint8Array[]): Uint8Array {
  return new TextEncoder().encode(ders.map((d) => toPEM(d, "CERTIFICATE")).join(""));
}

function tlsCertificateSecret(name: string, id: Identity): Secret {
  return create(SecretSchema, {
    name,
    type: {
      case: "tlsCertificate",
      value: create(TlsCertificateSchema, {
        certificateChain: inline(pemCertificates(id.svid.chain)),
        privateKey: inline(new TextEncoder().encode(toPEM(id.svid.keyPKCS8, "PRIVATE KEY"))),
      }),
    },
  });
}

function validationSecret(name: string, trustDomainID: string, bundles: Map<string, Uint8Array[]>, spiffe: boolean): Secret {
  const roots = bundles.get(trustDomainID);
  if (roots === undefined) {
    const msg = `no bundle found for trust domain: ${JSON.stringify(trustDomainID)}`;
    throw spiffe ? new NotFoundError(msg) : new InternalError(msg);
  }
  if (!spiffe) {
    return create(SecretSchema, {
      name,
      type: { case: "validationContext", value: create(CertificateValidationContextSchema, { trustedCa: inline(pemCertificates(roots)) }) },
    });
  }
  return spiffeValidatorSecret(name, [[trustDomainID, roots]]);
}

function allBundlesSecret(name: string, bundles: Map<string, Uint8Array[]>, spiffe: boolean): Secret {
  if (!spiffe) throw new InternalError(`unable to use "SPIFFE validator" on Envoy below 1.17`);
  const sorted = [...bundles.entries()].sort(([a], [b]) => (tdName(a) < tdName(b) ? -1 : tdName(a) > tdName(b) ? 1 : 0));
  return spiffeValidatorSecret(name, sorted);
}

function tdName(trustDomainID: string): string {
  return trustDomainID.replace(/^spiffe:\/\//, "");
}

function spiffeValidatorSecret(name: string, bundles: [string, Uint8Array[]][]): Secret {
  const config = create(SPIFFECertValidatorConfigSchema, {
    trustDomains: bundles.map(([td, roots]) =>
      create(SPIFFECertValidatorConfig_TrustDomainSchema, { name: tdName(td), trustBundle: inline(pemCertificates(roots)) })
    ),
  });
  return create(SecretSchema, {
    name,
    type: {
      case: "validationContext",
      value: create(CertificateValidationContextSchema, {
        customValidatorConfig: create(TypedExtensionConfigSchema, { name: SPIFFE_VALIDATOR, typedConfig: anyPack(SPIFFECertValidatorConfigSchema, config) }),
      }),
    },
  });
}

/** Envoy 1.18+ has the SPIFFE validator; a node without a build version is assumed to (SPIRE). */
function supportsSPIFFEValidator(node: Node | undefined): boolean {
  const v = node?.userAgentVersionType;
  if (v?.case !== "userAgentBuildVersion") return true;
  const major = v.value.version?.majorNumber ?? 0;
  const minor = v.value.version?.minorNumber ?? 0;
  return (major === 1 && minor > 17) || major > 1;
}

/** The config's setting, unless the node's metadata carries a bool (or Go-parsable bool string) that overrides it. */
function spiffeValidationDisabled(cfg: SDSConfig, node: Node | undefined): boolean {
  const v: JsonValue | undefined = node?.metadata?.[DISABLE_KEY];
  if (typeof v === "boolean") return v;
  if (typeof v === "string") {
    if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
    if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  }
  return cfg.disableSPIFFECertValidation;
}
