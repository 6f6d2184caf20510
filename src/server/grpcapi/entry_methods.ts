/**
 * SPIRE's Entry service (spire.api.server.entry.v1.Entry) admin RPCs over gRPC: count, list (filters, paging, output
 * mask), get and batch create/update/delete, on the plain functions of src/server/api/entry_api.ts.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { SelectorMatch_MatchBehavior } from "../../agent/workload/proto/spire/api/types/selector_pb.ts";
import type { FederatesWithMatch_MatchBehavior } from "../../agent/workload/proto/spire/api/types/federateswith_pb.ts";
import type { SPIFFEID } from "../../agent/workload/proto/spire/api/types/spiffeid_pb.ts";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import type * as spiffeid from "../../core/spiffeid/mod.ts";
import type { DataStore } from "../datastore/datastore.ts";
import {
  batchCreateEntry,
  batchDeleteEntry,
  batchUpdateEntry,
  type EntryFilter,
  type EntryMaskJSON,
  filterEntries,
  getEntry,
  type SelectorMatch,
} from "../api/entry_api.ts";
import { entryToJSON, type SPIFFEIDJSON } from "../api/entry_json.ts";
import {
  BatchCreateEntryResponseSchema,
  BatchDeleteEntryResponseSchema,
  BatchUpdateEntryResponseSchema,
  CountEntriesResponseSchema,
  Entry,
  type ListEntriesRequest_Filter,
  ListEntriesResponseSchema,
} from "../../agent/workload/proto/spire/api/server/entry/v1/entry_pb.ts";
import { type Entry as PBEntry, type EntryMask, EntryMaskSchema, EntrySchema } from "../../agent/workload/proto/spire/api/types/entry_pb.ts";
import { applyMask, entryInputFromProto, entryToProto, paginate, spiffeIDFromProto, spiffeIDToProto, status, unary } from "./rpc.ts";

export interface EntryMethodsDeps {
  ds: DataStore;
  trustDomain: spiffeid.TrustDomain;
  logger: Logger;
  /** Pushes entry changes to agents. */
  notify: () => void;
}

/** `SelectorMatch.MatchBehavior` / `FederatesWithMatch.MatchBehavior` by number (0 is MATCH_EXACT on the wire). */
const MATCH: readonly SelectorMatch[] = ["MATCH_EXACT", "MATCH_SUBSET", "MATCH_SUPERSET", "MATCH_ANY"];

function match(n: number): SelectorMatch {
  const m = MATCH[n];
  if (m === undefined) throw new InvalidArgumentError(`unsupported match behavior ${n}`);
  return m;
}

function filterFromProto(f: ListEntriesRequest_Filter | undefined): EntryFilter {
  if (!f) return {};
  const out: EntryFilter = {};
  if (f.bySpiffeId) out.by_spiffe_id = spiffeIDFromProto(f.bySpiffeId);
  if (f.byParentId) out.by_parent_id = spiffeIDFromProto(f.byParentId);
  if (f.bySelectors) {
    if (f.bySelectors.selectors.length === 0) throw new InvalidArgumentError("malformed selectors filter: empty selector set");
    out.by_selectors = { selectors: f.bySelectors.selectors.map((s) => ({ type: s.type, value: s.value })), match: match(f.bySelectors.match) };
  }
  if (f.byFederatesWith) {
    if (f.byFederatesWith.trustDomains.length === 0) throw new InvalidArgumentError("malformed federates with filter: empty trust domain set");
    out.by_federates_with = { trust_domains: f.byFederatesWith.trustDomains, match: match(f.byFederatesWith.match) };
  }
  if (f.byHint !== undefined) out.by_hint = f.byHint;
  if (f.byDownstream !== undefined) out.by_downstream = f.byDownstream;
  return out;
}

/** The fields of `ListEntriesRequest.Filter` / `CountEntriesRequest.Filter` (the same in both). */
export interface EntryFilterInit {
  bySpiffeId?: SPIFFEID;
  byParentId?: SPIFFEID;
  bySelectors?: { selectors: { type: string; value: string }[]; match: SelectorMatch_MatchBehavior };
  byFederatesWith?: { trustDomains: string[]; match: FederatesWithMatch_MatchBehavior };
  byHint?: string;
  byDownstream?: boolean;
}

/** A filter in JSON names (the CLI's) as `ListEntriesRequest.Filter` fields. */
export function entryFilterToProto(f: EntryFilter): EntryFilterInit {
  const id = (v: SPIFFEIDJSON | null | undefined) => (v ? spiffeIDToProto(v) : undefined);
  const bySpiffeId = id(f.by_spiffe_id);
  const byParentId = id(f.by_parent_id);
  return {
    ...(bySpiffeId ? { bySpiffeId } : {}),
    ...(byParentId ? { byParentId } : {}),
    ...(f.by_selectors
      ? { bySelectors: { selectors: f.by_selectors.selectors, match: MATCH.indexOf(f.by_selectors.match ?? "MATCH_SUPERSET") as SelectorMatch_MatchBehavior } }
      : {}),
    ...(f.by_federates_with
      ? {
        byFederatesWith: {
          trustDomains: f.by_federates_with.trust_domains,
          match: MATCH.indexOf((f.by_federates_with.match ?? "MATCH_SUPERSET") as SelectorMatch) as FederatesWithMatch_MatchBehavior,
        },
      }
      : {}),
    ...(f.by_hint !== undefined && f.by_hint !== null ? { byHint: f.by_hint } : {}),
    ...(f.by_downstream !== undefined && f.by_downstream !== null ? { byDownstream: f.by_downstream } : {}),
  };
}

/** `types.EntryMask` (an input mask) in the JSON names batchUpdateEntry takes. */
function inputMaskFromProto(m: EntryMask | undefined): EntryMaskJSON | undefined {
  if (!m) return undefined;
  return {
    spiffe_id: m.spiffeId,
    parent_id: m.parentId,
    selectors: m.selectors,
    x509_svid_ttl: m.x509SvidTtl,
    jwt_svid_ttl: m.jwtSvidTtl,
    federates_with: m.federatesWith,
    admin: m.admin,
    downstream: m.downstream,
    expires_at: m.expiresAt,
    dns_names: m.dnsNames,
    store_svid: m.storeSvid,
    hint: m.hint,
    additional_attributes: m.additionalAttributes,
  };
}

const masked = (e: PBEntry, mask: EntryMask | undefined) => applyMask(EntrySchema, e, EntryMaskSchema, mask);

export function entryMethods(d: EntryMethodsDeps): GRPCMethod[] {
  const { ds, trustDomain: td, logger } = d;
  const m = Entry.method;
  return [
    unary(m.countEntries, logger, async (req) => {
      const entries = await filterEntries(ds, filterFromProto(req.filter as ListEntriesRequest_Filter | undefined));
      return create(CountEntriesResponseSchema, { count: entries.length });
    }),
    unary(m.listEntries, logger, async (req) => {
      const entries = await filterEntries(ds, filterFromProto(req.filter));
      const page = paginate(entries, req.pageSize, req.pageToken, (e) => e.id);
      return create(ListEntriesResponseSchema, {
        entries: page.items.map((e) => masked(entryToProto(entryToJSON(e)), req.outputMask)),
        nextPageToken: page.next,
      });
    }),
    unary(m.getEntry, logger, async (req) => masked(entryToProto(await getEntry(ds, req.id)), req.outputMask)),
    unary(m.batchCreateEntry, logger, async (req) => {
      const results = await batchCreateEntry(ds, td, req.entries.map(entryInputFromProto));
      if (results.some((r) => r.status.code === 0)) d.notify();
      return create(BatchCreateEntryResponseSchema, {
        results: results.map((r) => ({ status: status(r.status), ...(r.entry ? { entry: masked(entryToProto(r.entry), req.outputMask) } : {}) })),
      });
    }),
    unary(m.batchUpdateEntry, logger, async (req) => {
      const results = await batchUpdateEntry(ds, td, req.entries.map(entryInputFromProto), inputMaskFromProto(req.inputMask));
      if (results.some((r) => r.status.code === 0)) d.notify();
      return create(BatchUpdateEntryResponseSchema, {
        results: results.map((r) => ({ status: status(r.status), ...(r.entry ? { entry: masked(entryToProto(r.entry), req.outputMask) } : {}) })),
      });
    }),
    unary(m.batchDeleteEntry, logger, async (req) => {
      const results = await batchDeleteEntry(ds, req.ids);
      if (results.some((r) => r.status.code === 0)) d.notify();
      return create(BatchDeleteEntryResponseSchema, { results: results.map((r) => ({ status: status(r.status), id: r.id })) });
    }),
  ];
}
