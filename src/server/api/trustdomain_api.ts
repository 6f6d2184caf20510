/**
 * SPIRE's TrustDomain service (trustdomain.v1) as plain functions (trustDomainAPI): federation relationships made
 * through the API, listed beside the config file's. The admin socket serves them as JSON routes (trustDomainRoutes)
 * and as gRPC (src/server/grpcapi/trustdomain_methods.ts). Bodies use SPIRE's protobuf JSON names
 * (`types.FederationRelationship`: trust_domain, bundle_endpoint_url, https_web {} | https_spiffe {endpoint_spiffe_id},
 * trust_domain_bundle); texts are SPIRE's (pkg/server/api/trustdomain/v1/service.go, pkg/server/api/trustdomain.go).
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

/** `FederationRelationshipMask` (BatchUpdate input mask): absent replaces every field. */
export interface RelationshipMask {
  bundle_endpoint_url?: boolean;
  bundle_endpoint_profile?: boolean;
  trust_domain_bundle?: boolean;
}

export function relationshipToJSON(r: FederationRelationship): FederationRelationshipJSON {
  return {
    trust_domain: r.trustDomain,
    bundle_endpoint_url: r.bundleEndpointURL,
    ...(r.profile.type === "https_spiffe" ? { https_spiffe: { endpoint_spiffe_id: r.profile.endpointSPIFFEID } } : { https_web: {} }),
  };
}

/** A conversion problem, reported as InvalidArgument "failed to convert federation relationship: <reason>". */
class ConvertError extends Error {}

/** Validates as SPIRE's api/trustdomain.go does; `current` fills the fields an update's input mask leaves out. */
function relationshipFromJSON(
  v: unknown,
  td: spiffeid.TrustDomain,
  mask?: RelationshipMask,
  current?: (name: string) => Promise<FederationRelationship | undefined>,
): Promise<{ rel: FederationRelationship; bundle?: ReturnType<typeof bundleFromJSON> }> {
  return (async () => {
    const o = (v ?? {}) as Partial<FederationRelationshipJSON>;
    let name: string;
    try {
      name = spiffeid.trustDomainFromString(String(o.trust_domain ?? "")).name;
    } catch (err) {
      throw new ConvertError(`failed to parse trust domain: ${(err as Error).message}`);
    }
    if (name === td.name) throw new InvalidArgumentError("unable to create federation relationship for server trust domain");
    const cur = mask && current ? await current(name) : undefined;
    if (mask && current && !cur) throw new NotFoundError("unable to fetch federation relationship: record not found");
    const want = (k: keyof RelationshipMask) => !mask || mask[k] === true;
    let url = cur?.bundleEndpointURL ?? "";
    if (want("bundle_endpoint_url")) {
      url = String(o.bundle_endpoint_url ?? "");
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new ConvertError(`failed to parse bundle endpoint URL: parse "${url}": invalid URI for request`);
      }
      if (parsed.protocol !== "https:") throw new ConvertError("bundle endpoint URL must use the https scheme");
      if (parsed.username || parsed.password) throw new ConvertError("bundle endpoint URL must not contain user info");
    }
    let profile: FederationRelationship["profile"] | undefined = cur?.profile;
    if (want("bundle_endpoint_profile")) {
      if (o.https_spiffe) {
        try {
          profile = { type: "https_spiffe", endpointSPIFFEID: spiffeid.fromString(String(o.https_spiffe.endpoint_spiffe_id ?? "")).toString() };
        } catch (err) {
          throw new ConvertError(`failed to parse endpoint SPIFFE ID: ${(err as Error).message}`);
        }
      } else if (o.https_web) profile = { type: "https_web" };
      else throw new ConvertError("unsupported bundle endpoint profile type");
    }
    const out: { rel: FederationRelationship; bundle?: ReturnType<typeof bundleFromJSON> } = {
      rel: { trustDomain: name, bundleEndpointURL: url, profile: profile! },
    };
    if (o.trust_domain_bundle && want("trust_domain_bundle")) {
      try {
        out.bundle = bundleFromJSON(o.trust_domain_bundle);
      } catch (err) {
        throw new ConvertError((err as Error).message.replace(/^failed to convert bundle: /, "failed to read bundle: "));
      }
      if (out.bundle.trustDomain !== name) {
        throw new ConvertError(
          `trust domain bundle ("${o.trust_domain_bundle.trust_domain}") must match the trust domain of the federation relationship ("${name}")`,
        );
      }
    }
    return out;
  })();
}

function statusOf(prefix: string, err: unknown): StatusJSON {
  if (err instanceof ConvertError) return { code: CODE.INVALID_ARGUMENT, message: `failed to convert federation relationship: ${err.message}` };
  if (err instanceof InvalidArgumentError) return { code: CODE.INVALID_ARGUMENT, message: err.message };
  if (err instanceof ServiceError) return { code: CODE[err.status], message: `${prefix}: ${err.message}` };
  return { code: CODE.INTERNAL, message: `${prefix}: internal error` };
}

export interface TrustDomainAPIDeps {
  ds: DataStore;
  trustDomain: spiffeid.TrustDomain;
  logger: Logger;
  notify: () => void;
  /** Relationships from the config file, listed beside (and winning over) the stored ones. */
  configured?: FederationConfig["federatesWith"] | undefined;
}

export type RelationshipResult = { status: StatusJSON; federation_relationship?: FederationRelationshipJSON };

export function trustDomainAPI(d: TrustDomainAPIDeps) {
  const { ds, trustDomain: td } = d;
  const log = d.logger.with({ subsystem_name: "api" });

  /** Stored relationships plus config-file ones (which win for the same trust domain), ordered by trust domain. */
  const all = async () => {
    const m = new Map<string, FederationRelationship>();
    for (const r of await ds.listFederationRelationships()) m.set(r.trustDomain, r);
    for (const r of d.configured ?? []) m.set(r.trustDomain, r);
    return [...m.values()].sort((a, b) => (a.trustDomain < b.trustDomain ? -1 : a.trustDomain > b.trustDomain ? 1 : 0));
  };
  const withBundle = async (r: FederationRelationship): Promise<FederationRelationshipJSON> => {
    const b = await ds.fetchBundle(r.trustDomain);
    return { ...relationshipToJSON(r), ...(b ? { trust_domain_bundle: bundleToJSON(b) } : {}) };
  };
  const batch = async (verb: "create" | "update", list: unknown[], mask?: RelationshipMask): Promise<RelationshipResult[]> => {
    const results: RelationshipResult[] = [];
    for (const raw of list) {
      try {
        const { rel, bundle } = await relationshipFromJSON(raw, td, verb === "update" ? mask : undefined, (n) => ds.fetchFederationRelationship(n));
        const stored = verb === "create" ? await ds.createFederationRelationship(rel) : await ds.updateFederationRelationship(rel);
        // The bundle is the relationship's trust domain's, whatever the profile (SPIRE's sqlstore stores and reads it
        // so), and is written only once the relationship is: SPIRE does both in one transaction.
        if (bundle) await ds.setBundle(bundle);
        log.info(verb === "create" ? "Federation relationship created" : "Federation relationship updated", { [F.TRUST_DOMAIN_ID]: rel.trustDomain });
        results.push({ status: { code: 0, message: "OK" }, federation_relationship: await withBundle(stored) });
      } catch (err) {
        // SPIRE answers every datastore failure of an update as Internal, an unknown trust domain included.
        if (verb === "update" && err instanceof NotFoundError) {
          results.push({ status: { code: CODE.INTERNAL, message: `failed to update federation relationship: ${err.message}` } });
          continue;
        }
        results.push({ status: statusOf(`failed to ${verb} federation relationship`, err) });
      }
    }
    d.notify();
    return results;
  };

  return {
    async listFederationRelationships(): Promise<FederationRelationshipJSON[]> {
      return Promise.all((await all()).map(withBundle));
    },

    /** @throws {NotFoundError} "federation relationship does not exist" */
    async getFederationRelationship(trustDomain: string): Promise<FederationRelationshipJSON> {
      let n: string;
      try {
        n = spiffeid.trustDomainFromString(trustDomain).name;
      } catch (err) {
        throw new InvalidArgumentError(`failed to parse trust domain: ${(err as Error).message}`, { cause: err });
      }
      const r = (await all()).find((x) => x.trustDomain === n);
      if (!r) throw new NotFoundError("federation relationship does not exist");
      return withBundle(r);
    },

    batchCreateFederationRelationship: (list: unknown[]) => batch("create", list),
    /** `mask` names the fields to replace; absent: all of them. */
    batchUpdateFederationRelationship: (list: unknown[], mask?: RelationshipMask) => batch("update", list, mask),

    async batchDeleteFederationRelationship(trustDomains: string[]): Promise<{ status: StatusJSON; trust_domain: string }[]> {
      const results: { status: StatusJSON; trust_domain: string }[] = [];
      for (const raw of trustDomains) {
        if (raw === "") {
          results.push({ status: { code: CODE.INVALID_ARGUMENT, message: "missing trust domain" }, trust_domain: raw });
          continue;
        }
        try {
          let n: string;
          try {
            n = spiffeid.trustDomainFromString(raw).name;
          } catch (err) {
            throw new InvalidArgumentError(`failed to parse trust domain: ${(err as Error).message}`);
          }
          await ds.deleteFederationRelationship(n);
          log.info("Federation relationship deleted", { [F.TRUST_DOMAIN_ID]: n });
          results.push({ status: { code: 0, message: "OK" }, trust_domain: n });
        } catch (err) {
          results.push({
            status: err instanceof NotFoundError
              ? { code: CODE.NOT_FOUND, message: "federation relationship not found" }
              : statusOf("failed to delete federation relationship", err),
            trust_domain: raw,
          });
        }
      }
      d.notify();
      return results;
    },
  };
}

export type TrustDomainAPI = ReturnType<typeof trustDomainAPI>;

export function trustDomainRoutes(app: Hono, cfg: TrustDomainAPIDeps): void {
  const api = trustDomainAPI(cfg);
  const T = "/trustdomain.v1.TrustDomain";
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  app.post(`${T}/ListFederationRelationships`, async (c) => c.json({ federation_relationships: await api.listFederationRelationships(), next_page_token: "" }));
  app.post(`${T}/GetFederationRelationship`, async (c) => c.json(await api.getFederationRelationship(String((await jsonBody(c)).trust_domain ?? ""))));
  const batch = (verb: "create" | "update") => async (c: Context) => {
    const rels = list((await jsonBody(c)).federation_relationships);
    const results = verb === "create" ? await api.batchCreateFederationRelationship(rels) : await api.batchUpdateFederationRelationship(rels);
    return c.json({ results });
  };
  app.post(`${T}/BatchCreateFederationRelationship`, batch("create"));
  app.post(`${T}/BatchUpdateFederationRelationship`, batch("update"));
  app.post(
    `${T}/BatchDeleteFederationRelationship`,
    async (c) => c.json({ results: await api.batchDeleteFederationRelationship(list((await jsonBody(c)).trust_domains).map(String)) }),
  );
}
