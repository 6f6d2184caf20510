/**
 * SPIRE's `server { federation { bundle_endpoint { … } federates_with "<td>" { … } } }` block
 * (cmd/spire-server/cli/run/run.go parseBundleEndpoint / parseFederatesWith).
 * @module
 */
import * as config from "../../core/config/mod.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import type { FederationRelationship } from "../datastore/datastore.ts";

/** How the bundle endpoint authenticates itself to foreign servers. */
export type BundleEndpointServingProfile =
  | { type: "https_spiffe" }
  | { type: "https_web"; certFilePath: string; keyFilePath: string; /** ms */ fileSyncInterval: number };

export interface BundleEndpointConfig {
  /** Default "0.0.0.0". */
  address: string;
  /** Default 443. */
  port: number;
  /** `spiffe_refresh_hint` served, ms. Default 5m. */
  refreshHint: number;
  profile: BundleEndpointServingProfile;
}

export interface FederationConfig {
  /** Absent: no bundle endpoint is served. */
  bundleEndpoint?: BundleEndpointConfig;
  /** Relationships from the config file; they override datastore ones for the same trust domain. */
  federatesWith: FederationRelationship[];
}

const DEFAULT_REFRESH_HINT = 5 * 60_000;
const DEFAULT_FILE_SYNC = 3_600_000;

/** Labeled HCL blocks arrive as `{label: body}` or a list of them; JSON configs may list many labels in one object. */
function labeled(v: unknown): [string, unknown][] {
  const items = Array.isArray(v) ? v : v === undefined ? [] : [v];
  const out: [string, unknown][] = [];
  for (const item of items) {
    if (config.isPlainObject(item)) out.push(...Object.entries(item));
  }
  return out;
}

/** Reads the block; every problem goes to `status`. */
export function readFederation(s: config.ConfigSection, status: config.ConfigStatus): FederationConfig {
  if (!s.has("federation")) {
    s.raw("federation");
    return { federatesWith: [] };
  }
  const f = s.section("federation");
  const out: FederationConfig = { federatesWith: [] };
  if (f.has("bundle_endpoint")) {
    const be = readBundleEndpoint(f.section("bundle_endpoint"), status);
    if (be) out.bundleEndpoint = be;
  } else f.raw("bundle_endpoint");
  const fw = f.raw("federates_with");
  if (fw !== undefined && !config.isPlainObject(fw) && !Array.isArray(fw)) status.error(`${f.key("federates_with")} must be a block`);
  const seen = new Set<string>();
  for (const [label, body] of labeled(fw)) {
    const rel = readFederatesWith(f.key(`federates_with "${label}"`), label, body, status);
    if (!rel) continue;
    if (seen.has(rel.trustDomain)) {
      status.error(`${f.key("federates_with")}: trust domain "${rel.trustDomain}" is declared more than once`);
      continue;
    }
    seen.add(rel.trustDomain);
    out.federatesWith.push(rel);
  }
  return out;
}

function readBundleEndpoint(b: config.ConfigSection, status: config.ConfigStatus): BundleEndpointConfig | undefined {
  const address = b.string("address") || "0.0.0.0";
  const port = b.int("port", { min: 0, max: 65535 }) ?? 443;
  const hint = b.duration("refresh_hint");
  if (hint !== undefined && hint <= 0) status.error(`${b.key("refresh_hint")} must be positive`);
  else if (hint !== undefined && (hint >= 24 * 3_600_000 || hint < 60_000)) {
    status.info(`${b.key("refresh_hint")}: bundle endpoint refresh hint set to a high or low value; consider a value between 1m and 24h`);
  }
  const profiles = labeled(b.raw("profile"));
  let profile: BundleEndpointServingProfile | undefined = { type: "https_spiffe" };
  if (profiles.length > 1) {
    status.error(`${b.key("profile")}: exactly one bundle endpoint profile is expected`);
    profile = undefined;
  } else if (profiles.length === 1) {
    const [name, body] = profiles[0]!;
    const p = new config.ConfigSection(b.key(`profile "${name}"`), body, status);
    profile = readServingProfile(name, p, status);
    p.finish();
  } else {
    status.info(`${b.key("profile")}: no bundle endpoint profile set; using https_spiffe`);
  }
  if (!profile) return undefined;
  return { address, port, refreshHint: hint !== undefined && hint > 0 ? hint : DEFAULT_REFRESH_HINT, profile };
}

function readServingProfile(name: string, p: config.ConfigSection, status: config.ConfigStatus): BundleEndpointServingProfile | undefined {
  if (name === "https_spiffe") return { type: "https_spiffe" };
  if (name !== "https_web") {
    status.error(`${p.path}: unknown bundle endpoint profile "${name}"; expected "https_web" or "https_spiffe"`);
    return undefined;
  }
  if (p.has("acme")) {
    p.raw("acme");
    status.error(
      `${p.key("acme")} is not supported by wisp: it cannot obtain certificates from an ACME CA; ` +
        `use serving_cert_file with a certificate from your CA`,
    );
    return undefined;
  }
  if (!p.has("serving_cert_file")) {
    p.raw("serving_cert_file");
    status.error(`${p.path}: malformed https_web profile configuration: 'acme' or 'serving_cert_file' is required`);
    return undefined;
  }
  const c = p.section("serving_cert_file");
  const certFilePath = c.string("cert_file_path") ?? "";
  const keyFilePath = c.string("key_file_path") ?? "";
  if (certFilePath === "") status.error(`${c.key("cert_file_path")} is required`);
  if (keyFilePath === "") status.error(`${c.key("key_file_path")} is required`);
  let sync = c.duration("file_sync_interval") ?? DEFAULT_FILE_SYNC;
  if (sync < 0) {
    status.error(`${c.key("file_sync_interval")} must not be negative`);
  }
  if (sync <= 0) sync = DEFAULT_FILE_SYNC;
  return { type: "https_web", certFilePath, keyFilePath, fileSyncInterval: sync };
}

function readFederatesWith(path: string, label: string, body: unknown, status: config.ConfigStatus): FederationRelationship | undefined {
  const s = new config.ConfigSection(path, body, status);
  let td: spiffeid.TrustDomain | undefined;
  try {
    td = spiffeid.trustDomainFromString(label);
  } catch (err) {
    status.error(`${path}: invalid trust domain: ${(err as Error).message}`);
  }
  const url = s.string("bundle_endpoint_url") ?? "";
  if (!/^https:\/\//i.test(url)) status.error(`${s.key("bundle_endpoint_url")}: must use the HTTPS protocol, got "${url}"`);
  else {
    try {
      new URL(url);
    } catch {
      status.error(`${s.key("bundle_endpoint_url")}: invalid URL "${url}"`);
    }
  }
  const profiles = labeled(s.raw("bundle_endpoint_profile"));
  let profile: FederationRelationship["profile"] | undefined;
  if (profiles.length === 0) status.error(`${path}: missing bundle endpoint configuration`);
  else if (profiles.length > 1) status.error(`${s.key("bundle_endpoint_profile")}: exactly one bundle endpoint profile is expected`);
  else {
    const [name, pbody] = profiles[0]!;
    const p = new config.ConfigSection(s.key(`bundle_endpoint_profile "${name}"`), pbody, status);
    if (name === "https_web") profile = { type: "https_web" };
    else if (name === "https_spiffe") {
      const id = p.string("endpoint_spiffe_id") ?? "";
      try {
        profile = { type: "https_spiffe", endpointSPIFFEID: spiffeid.fromString(id).toString() };
      } catch (err) {
        status.error(`${p.key("endpoint_spiffe_id")}: could not parse endpoint SPIFFE ID "${id}": ${(err as Error).message}`);
      }
    } else status.error(`${p.path}: unknown bundle endpoint profile type "${name}"`);
    p.finish();
  }
  s.finish();
  if (!td || !profile) return undefined;
  return { trustDomain: td.name, bundleEndpointURL: url, profile };
}
