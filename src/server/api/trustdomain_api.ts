/**
 * SPIRE's TrustDomain service (trustdomain.v1) on the admin socket: federation relationships made through the API,
 * bodies in SPIRE's protobuf JSON names (`types.FederationRelationship`: trust_domain, bundle_endpoint_url,
 * https_web {} | https_spiffe {endpoint_spiffe_id}, trust_domain_bundle).
 * @module
 */
import type { Context, Hono } from "hono";
import { InvalidArgumentError, NotFoundError, ServiceError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import type { DataStore, FederationRelationship } from "../datastore/datastore.ts";
import type { FederationConfig } from "../federation/federation_config.ts";
import { bundleFromJSON, type BundleJSON, bundleToJSON } from "./bundle_api.ts";
import { CODE, type StatusJSON } from "./entry_api.ts";
import { jsonBody } from "./json_body.ts";

export interface FederationRelationshipJSON {
  trust_domain: string;
  bundle_endpoint_url: string;
  https_web?: Record<string, never>;
  https_spiffe?: { endpoint_spiffe_id: string };
  trust_domain_bundle?: BundleJSON;
}

export function relationshipToJSON(r: FederationRelationship): FederationRelationshipJSON {
  return {
    trust_domain: r.trustDomain,
    bundle_endpoint_url: r.bundleEndpointURL,
    ...(r.profile.type === "https_spiffe" ? { https_spiffe: { endpoint_spiffe_id: r.profile.endpointSPIFFEID } } : { https_web: {} }),
  };
}

/** Validates as SPIRE's api/trustdomain.go does; texts are SPIRE's where it has one. */
function relationshipFromJSON(v: unknown, td: spiffeid.TrustDomain): { rel: FederationRelationship; bundle?: ReturnType<typeof bundleFromJSON> } {
  const o = (v ?? {}) as Partial<FederationRelationshipJSON>;
  let name: string;
  try {
    name = spiffeid.trustDomainFromString(String(o.trust_domain ?? "")).name;
  } catch (err) {
    throw new InvalidArgumentError(`failed to convert federation relationship: failed to parse trust domain: ${(err as Error).message}`);
  }
  if (name === td.name) throw new InvalidArgumentError("unable to create federation relationship for server trust domain");
  const url = String(o.bundle_endpoint_url ?? "");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(`failed to convert federation relationship: failed to parse bundle endpoint URL: parse "${url}": invalid URI for request`);
  }
  if (parsed.protocol !== "https:") throw new InvalidArgumentError("failed to convert federation relationship: bundle endpoint URL must use the https scheme");
  if (parsed.username || parsed.password) {
    throw new InvalidArgumentError("failed to convert federation relationship: bundle endpoint URL must not contain user info");
  }
  let profile: FederationRelationship["profile"];
  if (o.https_spiffe) {
    try {
      profile = { type: "https_spiffe", endpointSPIFFEID: spiffeid.fromString(String(o.https_spiffe.endpoint_spiffe_id ?? "")).toString() };
    } catch (err) {
      throw new InvalidArgumentError(`failed to convert federation relationship: failed to parse endpoint SPIFFE ID: ${(err as Error).message}`);
    }
  } else if (o.https_web) profile = { type: "https_web" };
  else throw new InvalidArgumentError("failed to convert federation relationship: unsupported bundle endpoint profile type");
  const out: { rel: FederationRelationship; bundle?: ReturnType<typeof bundleFromJSON> } = { rel: { trustDomain: name, bundleEndpointURL: url, profile } };
  if (o.trust_domain_bundle) out.bundle = bundleFromJSON(o.trust_domain_bundle);
  return out;
}

function statusOf(prefix: string, err: unknown): StatusJSON {
  if (err instanceof ServiceError) {
    const msg = err instanceof InvalidArgumentError && err.message.startsWith("failed to convert") ? err.message : `${prefix}: ${err.message}`;
    return { code: CODE[err.status], message: msg };
  }
  return { code: CODE.INTERNAL, message: `${prefix}: internal error` };
}

export function trustDomainRoutes(
  app: Hono,
  cfg: { ds: DataStore; trustDomain: spiffeid.TrustDomain; logger: Logger; notify: () => void; configured?: FederationConfig["federatesWith"] | undefined },
): void {
  const { ds, trustDomain: td } = cfg;
  const log = cfg.logger.with({ subsystem_name: "api" });
  const T = "/trustdomain.v1.TrustDomain";

  /** Stored relationships plus config-file ones (which win for the same trust domain), as SPIRE lists them. */
  const all = async () => {
    const m = new Map<string, FederationRelationship>();
    for (const r of await ds.listFederationRelationships()) m.set(r.trustDomain, r);
    for (const r of cfg.configured ?? []) m.set(r.trustDomain, r);
    return [...m.values()].sort((a, b) => a.trustDomain.localeCompare(b.trustDomain));
  };
  const withBundle = async (r: FederationRelationship): Promise<FederationRelationshipJSON> => {
    const bundleTD = r.profile.type === "https_spiffe" ? spiffeid.fromString(r.profile.endpointSPIFFEID).trustDomain.name : r.trustDomain;
    const b = await ds.fetchBundle(bundleTD);
    return { ...relationshipToJSON(r), ...(b ? { trust_domain_bundle: bundleToJSON(b) } : {}) };
  };

  app.post(`${T}/ListFederationRelationships`, async (c) => {
    const list = await all();
    return c.json({ federation_relationships: await Promise.all(list.map(withBundle)), next_page_token: "" });
  });
  app.post(`${T}/GetFederationRelationship`, async (c) => {
    const name = String((await jsonBody(c)).trust_domain ?? "");
    let n: string;
    try {
      n = spiffeid.trustDomainFromString(name).name;
    } catch (err) {
      throw new InvalidArgumentError(`failed to parse trust domain: ${(err as Error).message}`);
    }
    const r = (await all()).find((x) => x.trustDomain === n);
    if (!r) throw new NotFoundError("federation relationship does not exist");
    return c.json(await withBundle(r));
  });
  const batch = (verb: "create" | "update") => async (c: Context) => {
    const list = ((await jsonBody(c)).federation_relationships ?? []) as unknown[];
    const results: { status: StatusJSON; federation_relationship?: FederationRelationshipJSON }[] = [];
    for (const raw of Array.isArray(list) ? list : []) {
      try {
        const { rel, bundle } = relationshipFromJSON(raw, td);
        if (bundle) {
          // SPIRE attributes an https_spiffe bootstrap bundle to the endpoint ID's trust domain.
          const owner = rel.profile.type === "https_spiffe" ? spiffeid.fromString(rel.profile.endpointSPIFFEID).trustDomain.name : rel.trustDomain;
          if (owner === td.name) throw new InvalidArgumentError("failed to convert federation relationship: trust domain bundle cannot be the server's own");
          await ds.setBundle({ ...bundle, trustDomain: owner });
        }
        const stored = verb === "create" ? await ds.createFederationRelationship(rel) : await ds.updateFederationRelationship(rel);
        log.info(verb === "create" ? "Federation relationship created" : "Federation relationship updated", { [F.TRUST_DOMAIN_ID]: rel.trustDomain });
        results.push({ status: { code: 0, message: "OK" }, federation_relationship: await withBundle(stored) });
      } catch (err) {
        results.push({ status: statusOf(`failed to ${verb} federation relationship`, err) });
      }
    }
    cfg.notify();
    return c.json({ results });
  };
  app.post(`${T}/BatchCreateFederationRelationship`, batch("create"));
  app.post(`${T}/BatchUpdateFederationRelationship`, batch("update"));
  app.post(`${T}/BatchDeleteFederationRelationship`, async (c) => {
    const list = ((await jsonBody(c)).trust_domains ?? []) as unknown[];
    const results: { status: StatusJSON; trust_domain: string }[] = [];
    for (const raw of Array.isArray(list) ? list : []) {
      try {
        const n = spiffeid.trustDomainFromString(String(raw)).name;
        await ds.deleteFederationRelationship(n);
        log.info("Federation relationship deleted", { [F.TRUST_DOMAIN_ID]: n });
        results.push({ status: { code: 0, message: "OK" }, trust_domain: n });
      } catch (err) {
        results.push({
          status: err instanceof NotFoundError
            ? { code: CODE.NOT_FOUND, message: "federation relationship not found" }
            : statusOf("failed to delete federation relationship", err),
          trust_domain: String(raw),
        });
      }
    }
    return c.json({ results });
  });
}
