/** Registration entries on the wire, in SPIRE's JSON shape (spire-server entry show -output json). @module */
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { NewRegistrationEntry, RegistrationEntry, Selector } from "../datastore/datastore.ts";

export interface SPIFFEIDJSON {
  trust_domain: string;
  path: string;
}

export interface EntryJSON {
  id: string;
  spiffe_id: SPIFFEIDJSON;
  parent_id: SPIFFEIDJSON;
  selectors: Selector[];
  x509_svid_ttl: number;
  jwt_svid_ttl: number;
  dns_names: string[];
  hint: string;
  admin: boolean;
  downstream: boolean;
  revision_number: number;
  created_at: number;
  /** Unix seconds; 0: never expires. */
  expires_at: number;
  /** Trust domain names whose bundles the entry's workloads receive. */
  federates_with: string[];
  /** Always false: wisp has no SVIDStore. */
  store_svid: boolean;
}

function idJSON(s: string): SPIFFEIDJSON {
  const id = spiffeid.fromString(s);
  return { trust_domain: id.trustDomain.name, path: id.path };
}

export function idFromJSON(v: unknown, field: string): string {
  if (typeof v === "string") return spiffeid.fromString(v).toString();
  if (typeof v === "object" && v !== null) {
    const o = v as Partial<SPIFFEIDJSON>;
    if (typeof o.trust_domain === "string" && typeof (o.path ?? "") === "string") {
      const td = spiffeid.trustDomainFromString(o.trust_domain);
      return spiffeid.ID.fromPath(td, o.path ?? "").toString();
    }
  }
  throw new InvalidArgumentError(`invalid ${field}: must be a SPIFFE ID`);
}

export function entryToJSON(e: RegistrationEntry): EntryJSON {
  return {
    id: e.id,
    spiffe_id: idJSON(e.spiffeID),
    parent_id: idJSON(e.parentID),
    selectors: e.selectors,
    x509_svid_ttl: e.x509SVIDTTL,
    jwt_svid_ttl: e.jwtSVIDTTL,
    dns_names: e.dnsNames,
    hint: e.hint,
    admin: e.admin,
    downstream: e.downstream,
    revision_number: e.revisionNumber,
    created_at: e.createdAt,
    expires_at: e.expiresAt ?? 0,
    federates_with: e.federatesWith ?? [],
    store_svid: false,
  };
}

export function entryFromJSON(j: EntryJSON): RegistrationEntry {
  return {
    id: j.id,
    spiffeID: idFromJSON(j.spiffe_id, "spiffe_id"),
    parentID: idFromJSON(j.parent_id, "parent_id"),
    selectors: j.selectors,
    x509SVIDTTL: j.x509_svid_ttl,
    jwtSVIDTTL: j.jwt_svid_ttl,
    dnsNames: j.dns_names ?? [],
    hint: j.hint ?? "",
    admin: j.admin ?? false,
    downstream: j.downstream ?? false,
    revisionNumber: j.revision_number ?? 0,
    createdAt: j.created_at ?? 0,
    expiresAt: j.expires_at ?? 0,
    federatesWith: j.federates_with ?? [],
  };
}

/** Parses and validates an entry sent by an admin; every problem is reported with SPIRE's wording. */
export function newEntryFromJSON(v: unknown, td: spiffeid.TrustDomain): NewRegistrationEntry {
  if (typeof v !== "object" || v === null) throw new InvalidArgumentError("invalid registration entry: must be an object");
  const o = v as Record<string, unknown>;
  const fail = (m: string, cause?: unknown) => new InvalidArgumentError(`invalid registration entry: ${m}`, cause === undefined ? undefined : { cause });
  if (o.spiffe_id === undefined || o.spiffe_id === "") throw fail("missing SPIFFE ID");
  if (o.parent_id === undefined || o.parent_id === "") throw fail("missing parent ID");
  let spiffeID: string, parentID: string;
  try {
    spiffeID = idFromJSON(o.spiffe_id, "spiffe_id");
  } catch (err) {
    throw fail(`invalid spiffe_id: ${(err as Error).message}`, err);
  }
  try {
    parentID = idFromJSON(o.parent_id, "parent_id");
  } catch (err) {
    throw fail(`invalid parent_id: ${(err as Error).message}`, err);
  }
  const sid = spiffeid.fromString(spiffeID);
  if (!sid.memberOf(td)) throw fail(`spiffe_id "${spiffeID}" is not a member of trust domain "${td.name}"`);
  if (sid.isTrustDomainID()) throw fail("spiffe_id cannot be the trust domain ID");
  if (!spiffeid.fromString(parentID).memberOf(td)) throw fail(`parent_id "${parentID}" is not a member of trust domain "${td.name}"`);
  if (!Array.isArray(o.selectors) || o.selectors.length === 0) throw fail("missing selector list");
  const selectors: Selector[] = [];
  for (const s of o.selectors as unknown[]) {
    const sel = s as Partial<Selector>;
    if (typeof sel?.type !== "string" || sel.type === "") throw fail("missing selector type");
    if (typeof sel.value !== "string" || sel.value === "") throw fail("missing selector value");
    if (sel.type.includes(":")) throw fail(`selector type "${sel.type}" cannot contain a colon`);
    selectors.push({ type: sel.type, value: sel.value });
  }
  const ttl = (k: string) => {
    const t = o[k] ?? 0;
    if (typeof t !== "number" || !Number.isInteger(t) || t < 0) throw fail(`${k} must be a non-negative integer`);
    return t;
  };
  const dnsNames = (o.dns_names ?? []) as unknown[];
  if (!Array.isArray(dnsNames) || dnsNames.some((d) => typeof d !== "string" || !/^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(d))) {
    throw fail("dns_names must be a list of DNS names");
  }
  const hint = o.hint ?? "";
  if (typeof hint !== "string" || hint.length > 1024) throw fail("hint must be a string of at most 1024 bytes");
  return {
    ...(typeof o.id === "string" && o.id !== "" ? { id: o.id } : {}),
    spiffeID,
    parentID,
    selectors,
    x509SVIDTTL: ttl("x509_svid_ttl"),
    jwtSVIDTTL: ttl("jwt_svid_ttl"),
    dnsNames: dnsNames as string[],
    hint,
    admin: o.admin === true,
    downstream: o.downstream === true,
  };
}
