/**
 * SPIRE's Entry API (spire.api.server.entry.v1) as plain functions: batch create/update/delete with per-entry
 * statuses, list and count with SPIRE's filters, get. The admin socket serves them as JSON and as gRPC
 * (src/server/grpcapi/entry_methods.ts).
 * @module
 */
import { InvalidArgumentError, NotFoundError, ServiceError } from "../../core/errors.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import type { DataStore, NewRegistrationEntry, RegistrationEntry, Selector } from "../datastore/datastore.ts";
import { type EntryJSON, entryToJSON, type SPIFFEIDJSON } from "./entry_json.ts";

/** gRPC status codes as numbers, as `types.Status.code` carries them. */
export const CODE = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** `types.Status` (pkg/common/api/status.go): `{0, "OK"}` on success. */
export interface StatusJSON {
  code: number;
  message: string;
}

const OK: StatusJSON = { code: 0, message: "OK" };

/** A `types.Entry` as a client sends it (SPIRE's protobuf JSON names). */
export interface EntryInput {
  id?: string;
  spiffe_id?: SPIFFEIDJSON | null;
  parent_id?: SPIFFEIDJSON | null;
  selectors?: Selector[] | null;
  x509_svid_ttl?: number;
  jwt_svid_ttl?: number;
  federates_with?: string[] | null;
  admin?: boolean;
  downstream?: boolean;
  expires_at?: number | string;
  dns_names?: string[] | null;
  store_svid?: boolean;
  hint?: string;
  additional_attributes?: { disable_x509_svid_prefetch?: boolean; jwt_svid_include_jti?: boolean } | null;
}

/** `ListEntriesRequest.Filter` / `CountEntriesRequest.Filter`. */
export interface EntryFilter {
  by_spiffe_id?: SPIFFEIDJSON | null;
  by_parent_id?: SPIFFEIDJSON | null;
  by_selectors?: { selectors: Selector[]; match?: SelectorMatch } | null;
  by_federates_with?: { trust_domains: string[]; match?: string } | null;
  by_hint?: string | null;
  by_downstream?: boolean | null;
}

export type SelectorMatch = "MATCH_EXACT" | "MATCH_SUBSET" | "MATCH_SUPERSET" | "MATCH_ANY";

/** A conversion problem, reported as InvalidArgument "failed to convert entry: <reason>". */
class ConvertError extends Error {}

function idFromProto(v: SPIFFEIDJSON | null | undefined): spiffeid.ID {
  if (!v) throw new ConvertError("request must specify SPIFFE ID");
  return spiffeid.ID.fromPath(spiffeid.trustDomainFromString(v.trust_domain), v.path ?? "");
}

function memberID(td: spiffeid.TrustDomain, v: SPIFFEIDJSON | null | undefined): spiffeid.ID {
  const id = idFromProto(v);
  if (!id.memberOf(td)) throw new ConvertError(`"${id}" is not a member of trust domain "${td.name}"`);
  if (id.path === "") throw new ConvertError(`"${id}" is not a member of trust domain "${td.name}"; path is empty`);
  return id;
}

function workloadID(td: spiffeid.TrustDomain, v: SPIFFEIDJSON | null | undefined): spiffeid.ID {
  const id = idFromProto(v);
  if (!id.memberOf(td)) throw new ConvertError(`"${id}" is not a member of trust domain "${td.name}"`);
  if (id.path === "") throw new ConvertError(`"${id}" is not a workload in trust domain "${td.name}"; path is empty`);
  if (id.path.startsWith("/spire/")) throw new ConvertError(`"${id}" is not a workload in trust domain "${td.name}"; path is in the reserved namespace`);
  return id;
}

const DNS_LABEL = /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function wrap<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new ConvertError(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Converts and validates an entry as SPIRE's ProtoToRegistrationEntry does (pkg/server/api/entry.go), with its texts.
 * Fields wisp has no machinery for are refused by name rather than stored and ignored.
 */
export function entryFromProto(td: spiffeid.TrustDomain, e: EntryInput | null | undefined): NewRegistrationEntry {
  if (!e || typeof e !== "object") throw new ConvertError("missing entry");
  const parentID = wrap("invalid parent ID", () => memberID(td, e.parent_id));
  const spiffeID = wrap("invalid spiffe ID", () => workloadID(td, e.spiffe_id));
  const dnsNames: string[] = [];
  for (const d of e.dns_names ?? []) {
    if (typeof d !== "string" || d.length > 253 || !DNS_LABEL.test(d)) throw new ConvertError(`invalid DNS name: label does not match regex: ${d}`);
    dnsNames.push(d);
  }
  const federatesWith: string[] = [];
  for (const f of e.federates_with ?? []) {
    const name = wrap("invalid federated trust domain", () => spiffeid.trustDomainFromString(String(f)).name);
    if (name === td.name) throw new ConvertError(`invalid federated trust domain: cannot federate with own trust domain "${td.name}"`);
    if (!federatesWith.includes(name)) federatesWith.push(name);
  }
  // SPIRE: node entries (children of the server) cannot federate.
  if (federatesWith.length > 0 && parentID.toString() === spiffeid.serverID(td).toString()) {
    throw new ConvertError("node entries can not federate");
  }
  if (e.store_svid) throw new ConvertError("store_svid is not supported: wisp has no SVIDStore plugins");
  if (e.additional_attributes?.disable_x509_svid_prefetch || e.additional_attributes?.jwt_svid_include_jti) {
    throw new ConvertError("additional_attributes are not supported by wisp");
  }
  const selectors = e.selectors ?? [];
  if (selectors.length === 0) throw new ConvertError("selector list is empty");
  for (const s of selectors) {
    if (!s?.type) throw new ConvertError("missing selector type");
    if (s.type.includes(":")) throw new ConvertError("selector type contains ':'");
    if (!s.value) throw new ConvertError("missing selector value");
  }
  const hint = e.hint ?? "";
  if (hint.length > 1024) throw new ConvertError("hint is too long, max length is 1024 characters");
  const ttl = (v: unknown, name: string) => {
    const n = Number(v ?? 0);
    if (!Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1) throw new ConvertError(`invalid ${name}: must be a non-negative 32-bit integer`);
    return n;
  };
  const expiresAt = Number(e.expires_at ?? 0);
  if (!Number.isSafeInteger(expiresAt) || expiresAt < 0) throw new ConvertError("invalid expires_at: must be seconds since the epoch");
  return {
    ...(e.id ? { id: e.id } : {}),
    spiffeID: spiffeID.toString(),
    parentID: parentID.toString(),
    selectors: selectors.map((s) => ({ type: s.type, value: s.value })),
    x509SVIDTTL: ttl(e.x509_svid_ttl, "x509_svid_ttl"),
    jwtSVIDTTL: ttl(e.jwt_svid_ttl, "jwt_svid_ttl"),
    dnsNames,
    hint,
    admin: e.admin === true,
    downstream: e.downstream === true,
    expiresAt,
    federatesWith,
  };
}

/** SPIRE's sqlstore refuses an entry that federates with a trust domain whose bundle it does not hold. */
async function checkFederatedBundles(ds: DataStore, e: NewRegistrationEntry): Promise<void> {
  for (const td of e.federatesWith ?? []) {
    if (!(await ds.fetchBundle(td))) throw new InvalidArgumentError(`unable to find federated bundle "spiffe://${td}"`);
  }
}

const ENTRY_ID = /^[A-Za-z0-9._-]{1,255}$/;

function statusOfError(prefix: string, err: unknown): StatusJSON {
  if (err instanceof ConvertError) return { code: CODE.INVALID_ARGUMENT, message: `failed to convert entry: ${err.message}` };
  // SPIRE's MakeStatus leaves the cause out of a NotFound message (pkg/common/api/status.go).
  if (err instanceof NotFoundError) return { code: CODE.NOT_FOUND, message: prefix };
  if (err instanceof ServiceError) return { code: CODE[err.status], message: `${prefix}: ${err.message}` };
  return { code: CODE.INTERNAL, message: `${prefix}: internal error` };
}

const selectorKey = (s: Selector) => `${s.type}\u0000${s.value}`;
const sameSelectors = (a: Selector[], b: Selector[]) => {
  const x = new Set(a.map(selectorKey));
  const y = new Set(b.map(selectorKey));
  return x.size === y.size && [...x].every((k) => y.has(k));
};

/** BatchCreateEntry: one result per input, in order; a similar existing entry answers AlreadyExists with that entry. */
export async function batchCreateEntry(ds: DataStore, td: spiffeid.TrustDomain, entries: EntryInput[]): Promise<{ status: StatusJSON; entry?: EntryJSON }[]> {
  const out: { status: StatusJSON; entry?: EntryJSON }[] = [];
  for (const raw of entries) {
    try {
      const e = entryFromProto(td, raw);
      if (e.id !== undefined && !ENTRY_ID.test(e.id)) throw new ConvertError("invalid entry ID: must be 1-255 characters from [A-Za-z0-9._-]");
      const similar = (await ds.listEntries({ parentID: e.parentID, spiffeID: e.spiffeID })).find((x) => sameSelectors(x.selectors, e.selectors));
      if (similar) {
        out.push({ status: { code: CODE.ALREADY_EXISTS, message: "similar entry already exists" }, entry: entryToJSON(similar) });
        continue;
      }
      await checkFederatedBundles(ds, e);
      out.push({ status: OK, entry: entryToJSON(await ds.createEntry(e)) });
    } catch (err) {
      out.push({ status: statusOfError("failed to create entry", err) });
    }
  }
  return out;
}

/** `types.EntryMask` in JSON names: which fields of an update to apply. */
export type EntryMaskJSON = Partial<Record<Exclude<keyof EntryInput, "id">, boolean>>;

/**
 * BatchUpdateEntry: without an input mask every field is replaced; with one, only the fields it sets true (the rest
 * keep their stored values). The ID and creation time stay, the revision bumps.
 */
export async function batchUpdateEntry(
  ds: DataStore,
  td: spiffeid.TrustDomain,
  entries: EntryInput[],
  inputMask?: EntryMaskJSON,
): Promise<{ status: StatusJSON; entry?: EntryJSON }[]> {
  const out: { status: StatusJSON; entry?: EntryJSON }[] = [];
  for (const raw of entries) {
    try {
      if (!raw?.id) throw new ConvertError("missing entry ID");
      const current = await ds.fetchEntry(raw.id);
      if (!current) throw new NotFoundError("datastore-sql: record not found");
      let input: EntryInput = raw;
      if (inputMask) {
        const merged: Record<string, unknown> = { ...entryToJSON(current) };
        for (const [k, on] of Object.entries(inputMask)) if (on) merged[k] = (raw as Record<string, unknown>)[k];
        input = { ...(merged as EntryInput), id: raw.id };
      }
      const e = entryFromProto(td, input);
      await checkFederatedBundles(ds, e);
      const updated = await ds.updateEntry({ ...current, ...e, id: current.id, revisionNumber: current.revisionNumber, createdAt: current.createdAt });
      out.push({ status: OK, entry: entryToJSON(updated) });
    } catch (err) {
      out.push({ status: statusOfError("failed to update entry", err) });
    }
  }
  return out;
}

/** BatchDeleteEntry: per-ID statuses with SPIRE's texts ("missing entry ID", "entry not found"). */
export async function batchDeleteEntry(ds: DataStore, ids: string[]): Promise<{ status: StatusJSON; id: string }[]> {
  const out: { status: StatusJSON; id: string }[] = [];
  for (const id of ids) {
    if (!id) {
      out.push({ id, status: { code: CODE.INVALID_ARGUMENT, message: "missing entry ID" } });
      continue;
    }
    try {
      await ds.deleteEntry(id);
      out.push({ id, status: OK });
    } catch (err) {
      out.push({
        id,
        status: err instanceof NotFoundError ? { code: CODE.NOT_FOUND, message: "entry not found" } : statusOfError("failed to delete entry", err),
      });
    }
  }
  return out;
}

/** True when the entry's selectors relate to the wanted ones as SPIRE's SelectorMatch says. */
export function selectorsMatch(entry: Selector[], wanted: Selector[], match: SelectorMatch = "MATCH_SUPERSET"): boolean {
  const have = new Set(entry.map(selectorKey));
  const want = new Set(wanted.map(selectorKey));
  switch (match) {
    case "MATCH_EXACT":
      return have.size === want.size && [...want].every((k) => have.has(k));
    case "MATCH_SUBSET":
      return [...have].every((k) => want.has(k));
    case "MATCH_ANY":
      return [...want].some((k) => have.has(k));
    default:
      return [...want].every((k) => have.has(k));
  }
}

/** Entries matching a ListEntries/CountEntries filter (SPIRE: `by_downstream=false` does not filter). */
export async function filterEntries(ds: DataStore, f: EntryFilter | null | undefined): Promise<RegistrationEntry[]> {
  const filter = f ?? {};
  let fedFilter: { tds: string[]; match: SelectorMatch } | undefined;
  if ((filter.by_federates_with?.trust_domains ?? []).length > 0) {
    const tds = filter.by_federates_with!.trust_domains.map((t) => {
      try {
        return spiffeid.trustDomainFromString(t).name;
      } catch (err) {
        throw new InvalidArgumentError(`malformed federates with filter: ${(err as Error).message}`, { cause: err });
      }
    });
    fedFilter = { tds, match: (filter.by_federates_with!.match ?? "MATCH_SUPERSET") as SelectorMatch };
  }
  const id = (v: SPIFFEIDJSON, what: string) => {
    try {
      return idFromProto(v).toString();
    } catch (err) {
      throw new InvalidArgumentError(`malformed ${what}: ${(err as Error).message}`, { cause: err });
    }
  };
  const list = await ds.listEntries({
    ...(filter.by_parent_id ? { parentID: id(filter.by_parent_id, "parent ID filter") } : {}),
    ...(filter.by_spiffe_id ? { spiffeID: id(filter.by_spiffe_id, "SPIFFE ID filter") } : {}),
  });
  return list.filter((e) =>
    (!filter.by_selectors || selectorsMatch(e.selectors, filter.by_selectors.selectors, filter.by_selectors.match)) &&
    (filter.by_hint === undefined || filter.by_hint === null || e.hint === filter.by_hint) &&
    (filter.by_downstream !== true || e.downstream) &&
    (!fedFilter || selectorsMatch(
      (e.federatesWith ?? []).map((t) => ({ type: "td", value: t })),
      fedFilter.tds.map((t) => ({ type: "td", value: t })),
      fedFilter.match,
    ))
  );
}

/** GetEntry. @throws {NotFoundError} "entry not found" */
export async function getEntry(ds: DataStore, id: string): Promise<EntryJSON> {
  if (!id) throw new InvalidArgumentError("missing ID");
  const e = await ds.fetchEntry(id);
  if (!e) throw new NotFoundError("entry not found");
  return entryToJSON(e);
}
