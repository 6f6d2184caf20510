/**
 * `entry create|update|delete|show|count` with SPIRE's flags, validation texts, pretty and JSON output, and batch
 * exit codes (cmd/spire-server/cli/entry/*.go).
 * @module
 */
import { type Command, type CommandContext, defineCommand } from "../../core/cli/command.ts";
import { OUTPUT_FLAG } from "../../core/cli/printer.ts";
import { NotFoundError } from "../../core/errors.ts";
import type { FS } from "../../core/ports/fs.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import type { EntryFilter, EntryInput, SelectorMatch, StatusJSON } from "../api/entry_api.ts";
import type { EntryJSON, SPIFFEIDJSON } from "../api/entry_json.ts";
import { type AdminDialer, SOCKET_FLAG } from "./admin_client.ts";
import { CODE_NAME, entryProtoJSON, formatEntryBlock, goJSON, goQuote, plural, sortEntries } from "./spire_print.ts";
import { emit, fail, spireAction, wrapError } from "./spire_cmd.ts";
import { Entry } from "../../agent/workload/proto/spire/api/server/entry/v1/entry_pb.ts";
import type { Entry as PBEntry } from "../../agent/workload/proto/spire/api/types/entry_pb.ts";
import type { Status as PBStatus } from "../../agent/workload/proto/spire/api/types/status_pb.ts";
import { entryFilterToProto } from "../grpcapi/entry_methods.ts";
import { entryInputToProto, entryJSONFromProto } from "../grpcapi/rpc.ts";

interface EntryResult {
  status: StatusJSON;
  entry?: EntryJSON;
}

/** Batch create/update results in the shape the printers take. */
const results = (r: { results: { status?: PBStatus | undefined; entry?: PBEntry | undefined }[] }): { results: EntryResult[] } => ({
  results: r.results.map((x) => ({
    status: { code: x.status?.code ?? 0, message: x.status?.message ?? "" },
    ...(x.entry ? { entry: entryJSONFromProto(x.entry) } : {}),
  })),
});

/** `serverutil.ParseSelector`: everything after the first colon is the value. */
export function parseCLISelector(s: string): { type: string; value: string } {
  const i = s.indexOf(":");
  if (i === -1) throw fail(`selector "${s}" must be formatted as type:value`);
  return { type: s.slice(0, i), value: s.slice(i + 1) };
}

/** `idStringToProto`. */
function idProto(s: string): SPIFFEIDJSON {
  const id = spiffeid.fromString(s);
  return { trust_domain: id.trustDomain.name, path: id.path };
}

const MATCH: Record<string, SelectorMatch> = { exact: "MATCH_EXACT", any: "MATCH_ANY", superset: "MATCH_SUPERSET", subset: "MATCH_SUBSET" };

function parseMatch(v: string): SelectorMatch {
  const m = MATCH[v];
  if (!m) throw fail(`match behavior "${v}" unknown`);
  return m;
}

/** Go's encoding/json error for input that is not JSON at all, which is what SPIRE prints for a bad -data file. */
function parseGoJSON(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const c = text.trimStart()[0];
    if (c === undefined) throw fail("unexpected end of JSON input");
    if (!/[{["\-0-9tfn]/.test(c)) throw fail(`invalid character '${c}' looking for beginning of value`);
    throw fail(`invalid JSON: ${(err as Error).message}`);
  }
}

/** Reads a field of a Go-unmarshalled object: encoding/json matches keys case-insensitively. */
function field(o: Record<string, unknown>, name: string): unknown {
  if (name in o) return o[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(o)) if (k.toLowerCase() === lower) return o[k];
  return undefined;
}

/**
 * The `-data` file: `{"entries":[…]}` in SPIRE's common.RegistrationEntry JSON (string SPIFFE IDs, `entry_id`,
 * `entryExpiry`), converted as RegistrationEntriesToProto does (pkg/server/api/entry.go).
 */
export function parseEntriesFile(text: string): EntryInput[] {
  const doc = parseGoJSON(text);
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw fail("json: cannot unmarshal into Go value of type common.RegistrationEntries");
  const list = field(doc as Record<string, unknown>, "entries");
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw fail("json: cannot unmarshal into Go struct field RegistrationEntries.entries");
  return list.map((raw) => {
    if (raw === null || typeof raw !== "object") throw fail("missing registration entry");
    const e = raw as Record<string, unknown>;
    const str = (k: string) => (typeof field(e, k) === "string" ? (field(e, k) as string) : "");
    let spiffeID: SPIFFEIDJSON, parentID: SPIFFEIDJSON;
    try {
      spiffeID = idProto(str("spiffe_id"));
    } catch (err) {
      throw wrapError("invalid SPIFFE ID", err);
    }
    try {
      parentID = idProto(str("parent_id"));
    } catch (err) {
      throw wrapError("invalid parent ID", err);
    }
    const fw = field(e, "federates_with");
    const federatesWith = (Array.isArray(fw) ? fw : typeof fw === "string" ? [fw] : []).map((td) => {
      try {
        return spiffeid.trustDomainFromString(String(td)).name;
      } catch (err) {
        throw wrapError("invalid federated trust domain", err);
      }
    });
    const aa = field(e, "additional_attributes") as Record<string, unknown> | undefined;
    return {
      id: str("entry_id"),
      spiffe_id: spiffeID,
      parent_id: parentID,
      selectors: ((field(e, "selectors") as Record<string, unknown>[] | undefined) ?? []).map((s) => ({
        type: String(field(s, "type") ?? ""),
        value: String(field(s, "value") ?? ""),
      })),
      x509_svid_ttl: Number(field(e, "x509_svid_ttl") ?? 0),
      jwt_svid_ttl: Number(field(e, "jwt_svid_ttl") ?? 0),
      federates_with: federatesWith,
      admin: field(e, "admin") === true,
      downstream: field(e, "downstream") === true,
      expires_at: Number(field(e, "entryExpiry") ?? 0),
      dns_names: (field(e, "dns_names") as string[] | undefined) ?? [],
      store_svid: field(e, "store_svid") === true,
      hint: str("hint"),
      ...(aa
        ? {
          additional_attributes: {
            disable_x509_svid_prefetch: field(aa, "disable_x509_svid_prefetch") === true,
            jwt_svid_include_jti: field(aa, "jwt_svid_include_jti") === true,
          },
        }
        : {}),
    };
  });
}

/** A request entry as an EntryJSON, for printing failures the way SPIRE does (it echoes what was sent). */
function requestAsEntry(e: EntryInput): EntryJSON {
  return {
    id: e.id ?? "",
    spiffe_id: e.spiffe_id ?? { trust_domain: "", path: "" },
    parent_id: e.parent_id ?? { trust_domain: "", path: "" },
    selectors: e.selectors ?? [],
    x509_svid_ttl: e.x509_svid_ttl ?? 0,
    jwt_svid_ttl: e.jwt_svid_ttl ?? 0,
    dns_names: e.dns_names ?? [],
    hint: e.hint ?? "",
    admin: e.admin ?? false,
    downstream: e.downstream ?? false,
    revision_number: 0,
    created_at: 0,
    expires_at: Number(e.expires_at ?? 0),
    federates_with: e.federates_with ?? [],
    store_svid: e.store_svid ?? false,
  };
}

/** Prints a BatchCreate/BatchUpdate response as SPIRE's prettyPrintCreate/Update; returns the exit code. */
function printBatch(ctx: CommandContext, verb: "create" | "update", results: EntryResult[], request: EntryInput[]): number {
  // SPIRE puts the request entry into every failed result (create.go createEntries, update.go updateEntries).
  const shown = results.map((r, i) => (r.status.code === 0 ? r : { status: r.status, entry: requestAsEntry(request[i]!) }));
  if (ctx.output === "json") {
    ctx.env.stdout(goJSON({ results: shown.map((r) => ({ status: r.status, entry: entryProtoJSON(r.entry!) })) }));
    return 0;
  }
  const failed = shown.filter((r) => r.status.code !== 0);
  for (const r of shown) if (r.status.code === 0) ctx.env.stdout(formatEntryBlock(r.entry!));
  for (const r of failed) {
    ctx.env.stderr(`Failed to ${verb} the following entry (code: ${CODE_NAME[r.status.code] ?? r.status.code}, msg: ${goQuote(r.status.message)}):\n`);
    ctx.env.stderr(formatEntryBlock(r.entry!));
  }
  if (failed.length > 0) {
    ctx.env.stderr(`Error: failed to ${verb} one or more entries\n`);
    return 1;
  }
  return 0;
}

const ENTRY_FLAGS = [
  SOCKET_FLAG,
  { name: "parentID", kind: "string", usage: "The SPIFFE ID of this record's parent" },
  { name: "spiffeID", kind: "string", usage: "The SPIFFE ID that this record represents" },
  { name: "x509SVIDTTL", kind: "int", default: 0, usage: "The lifetime, in seconds, for x509-SVIDs issued based on this registration entry." },
  { name: "jwtSVIDTTL", kind: "int", default: 0, usage: "The lifetime, in seconds, for JWT-SVIDs issued based on this registration entry." },
  { name: "data", kind: "string", usage: "Path to a file containing registration JSON (optional). If set to '-', read the JSON from stdin." },
  { name: "selector", kind: "stringList", usage: "A colon-delimited type:value selector. Can be used more than once" },
  { name: "federatesWith", kind: "stringList", usage: "SPIFFE ID of a trust domain to federate with. Can be used more than once" },
  { name: "admin", kind: "bool", usage: "If set, the SPIFFE ID in this entry will be granted access to the SPIRE Server's management APIs" },
  {
    name: "storeSVID",
    kind: "bool",
    usage:
      "A boolean value that, when set, indicates that the resulting issued SVID from this entry must be stored through an SVIDStore plugin (not supported by wisp: refused)",
  },
  { name: "downstream", kind: "bool", usage: "A boolean value that, when set, indicates that the entry describes a downstream SPIRE server" },
  { name: "entryExpiry", kind: "int", default: 0, usage: "An expiry, from epoch in seconds, for the resulting registration entry to be pruned" },
  {
    name: "dns",
    kind: "stringList",
    usage: "A DNS name that will be included in SVIDs issued based on this entry, where appropriate. Can be used more than once",
  },
  { name: "hint", kind: "string", default: "", usage: "The entry hint, used to disambiguate entries with the same SPIFFE ID" },
  {
    name: "disableX509SVIDPrefetch",
    kind: "bool",
    usage: "A boolean value that, when set, disables prefetching X509 SVID for this entry (not supported by wisp: refused)",
  },
  {
    name: "jwtSVIDIncludeJTI",
    kind: "bool",
    usage:
      "A boolean value that, when set, includes a unique 'jti' claim in JWT-SVIDs issued for this entry and bypasses the agent JWT-SVID cache (not supported by wisp: refused)",
  },
] as const;

interface EntryFlagValues {
  parentID?: string | undefined;
  spiffeID?: string | undefined;
  x509SVIDTTL: number;
  jwtSVIDTTL: number;
  selector: string[];
  federatesWith: string[];
  admin: boolean;
  storeSVID: boolean;
  downstream: boolean;
  entryExpiry: number;
  dns: string[];
  hint: string;
  disableX509SVIDPrefetch: boolean;
  jwtSVIDIncludeJTI: boolean;
}

/** Features wisp does not have are refused by name instead of being sent and ignored. */
function refuseUnsupported(v: EntryFlagValues): void {
  if (v.storeSVID) throw fail("-storeSVID is not supported: wisp has no SVIDStore plugins");
  if (v.disableX509SVIDPrefetch) throw fail("-disableX509SVIDPrefetch is not supported: the wisp agent always prefetches X509-SVIDs");
  if (v.jwtSVIDIncludeJTI) throw fail("-jwtSVIDIncludeJTI is not supported by wisp");
}

function entryFromFlags(v: EntryFlagValues, id: string | undefined, parent: SPIFFEIDJSON, spiffe: SPIFFEIDJSON): EntryInput {
  return {
    ...(id ? { id } : {}),
    parent_id: parent,
    spiffe_id: spiffe,
    downstream: v.downstream,
    expires_at: v.entryExpiry,
    dns_names: v.dns,
    x509_svid_ttl: v.x509SVIDTTL,
    jwt_svid_ttl: v.jwtSVIDTTL,
    hint: v.hint,
    selectors: v.selector.map(parseCLISelector),
    admin: v.admin,
    federates_with: v.federatesWith.map(federatedTD),
  };
}

/** `-federatesWith spiffe://td` (SPIRE's flag takes the trust domain's SPIFFE ID; a bare name is accepted too). */
function federatedTD(s: string): string {
  try {
    return spiffeid.trustDomainFromString(s).name;
  } catch (err) {
    throw wrapError("invalid federated trust domain", err);
  }
}

/** Reads `-data`/`-file`: a path relative to the working directory, or "-" for stdin. */
async function readInput(fs: FS, ctx: CommandContext, path: string): Promise<string> {
  const p = path === "-" ? "/dev/stdin" : path.startsWith("/") ? path : fs.join(ctx.env.cwd, path);
  try {
    return new TextDecoder().decode(await fs.readFile(p));
  } catch (err) {
    if (err instanceof NotFoundError) throw fail(`open ${path}: no such file or directory`);
    throw err;
  }
}

export function entryCommands(dial: AdminDialer, fs: FS): Command[] {
  const create = defineCommand({
    name: "entry create",
    synopsis: "Creates registration entries",
    flags: [
      { name: "entryID", kind: "string", usage: "A custom ID for this registration entry (optional). If not set, a new entry ID will be generated" },
      { name: "node", kind: "bool", usage: "If set, this entry will be applied to matching nodes rather than workloads" },
      ...ENTRY_FLAGS,
      OUTPUT_FLAG,
    ] as const,
    examples: [
      "entry create -parentID spiffe://example.org/node1 -spiffeID spiffe://example.org/web -selector unix:uid:1000",
      "entry create -node -spiffeID spiffe://example.org/nodes -selector join_token:...",
      "entry create -data entries.json",
    ],
    run: (ctx, { values: v }) =>
      spireAction(ctx, async () => {
        let entries: EntryInput[];
        if (v.data) {
          entries = parseEntriesFile(await readInput(fs, ctx, v.data));
        } else {
          if (v.selector.length < 1) throw fail("at least one selector is required");
          if (v.node && v.federatesWith.length > 0) throw fail("node entries can not federate");
          if (!v.parentID && !v.node) throw fail("a parent ID is required if the node flag is not set");
          if (!v.spiffeID) throw fail("a SPIFFE ID is required");
          if (v.x509SVIDTTL < 0) throw fail("a positive x509-SVID TTL is required");
          if (v.jwtSVIDTTL < 0) throw fail("a positive JWT-SVID TTL is required");
          refuseUnsupported(v);
          const spiffe = idProto(v.spiffeID);
          const parent = v.node ? { trust_domain: spiffe.trust_domain, path: "/spire/server" } : idProto(v.parentID!);
          entries = [entryFromFlags(v, v.entryID, parent, spiffe)];
        }
        const r = results(await dial(v.socketPath).grpc(Entry.method.batchCreateEntry, { entries: entries.map(entryInputToProto) }));
        return printBatch(ctx, "create", r.results, entries);
      }),
  });

  const update = defineCommand({
    name: "entry update",
    synopsis: "Updates registration entries",
    flags: [{ name: "entryID", kind: "string", usage: "The Registration Entry ID of the record to update" }, ...ENTRY_FLAGS, OUTPUT_FLAG] as const,
    examples: [
      "entry update -entryID 0d7c7e5a-… -parentID spiffe://example.org/node1 -spiffeID spiffe://example.org/web -selector unix:uid:1001",
      "entry update -data entries.json",
    ],
    run: (ctx, { values: v }) =>
      spireAction(ctx, async () => {
        let entries: EntryInput[];
        if (v.data) {
          entries = parseEntriesFile(await readInput(fs, ctx, v.data));
        } else {
          if (!v.entryID) throw fail("entry ID is required");
          if (v.selector.length < 1) throw fail("at least one selector is required");
          if (!v.parentID) throw fail("a parent ID is required");
          if (!v.spiffeID) throw fail("a SPIFFE ID is required");
          if (v.x509SVIDTTL < 0) throw fail("a positive x509-SVID TTL is required");
          if (v.jwtSVIDTTL < 0) throw fail("a positive JWT-SVID TTL is required");
          refuseUnsupported(v);
          entries = [entryFromFlags(v, v.entryID, idProto(v.parentID), idProto(v.spiffeID))];
        }
        const r = results(await dial(v.socketPath).grpc(Entry.method.batchUpdateEntry, { entries: entries.map(entryInputToProto) }));
        return printBatch(ctx, "update", r.results, entries);
      }),
  });

  const del = defineCommand({
    name: "entry delete",
    synopsis: "Deletes registration entries",
    flags: [
      SOCKET_FLAG,
      { name: "entryID", kind: "string", usage: "The Registration Entry ID of the record to delete." },
      { name: "file", kind: "string", usage: "Path to a file containing a JSON structure for batch deletion (optional). If set to '-', read from stdin." },
      OUTPUT_FLAG,
    ] as const,
    examples: ["entry delete -entryID 0d7c7e5a-…", "entry delete -file ids.json"],
    run: (ctx, { values: v }) =>
      spireAction(ctx, async () => {
        let ids: string[];
        if (v.file) {
          const doc = parseGoJSON(await readInput(fs, ctx, v.file));
          const raw = typeof doc === "object" && doc !== null ? field(doc as Record<string, unknown>, "ids") : undefined;
          ids = Array.isArray(raw) ? raw.map(String) : [];
        } else {
          if (!v.entryID) throw fail("an entry ID is required");
          ids = [v.entryID];
        }
        const r = {
          results: (await dial(v.socketPath).grpc(Entry.method.batchDeleteEntry, { ids })).results.map((x) => ({
            status: { code: x.status?.code ?? 0, message: x.status?.message ?? "" },
            id: x.id,
          })),
        };
        if (ctx.output === "json") {
          ctx.env.stdout(goJSON({ results: r.results.map((x) => ({ status: x.status, id: x.id })) }));
          return 0;
        }
        // SPIRE's prettyPrintDelete, including its blank lines and the summary without a final newline.
        const ok = r.results.filter((x) => x.status.code === 0);
        const failed = r.results.filter((x) => x.status.code !== 0);
        for (const x of ok) ctx.env.stdout(`Deleted entry with ID: ${x.id}\n`);
        if (ok.length > 0) ctx.env.stdout("\n\n");
        for (const x of failed) {
          ctx.env.stderr(`Failed to delete entry with ID ${x.id} (code: ${CODE_NAME[x.status.code] ?? x.status.code}, msg: ${goQuote(x.status.message)})\n`);
        }
        if (failed.length > 0) {
          ctx.env.stdout("\n\n");
          ctx.env.stdout(
            ok.length === 0
              ? `Failed to delete ${failed.length} entries`
              : `Deleted ${ok.length} entries successfully, but failed to delete ${failed.length} entries`,
          );
          ctx.env.stderr("Error: failed to delete one or more entries\n");
          return 1;
        }
        ctx.env.stdout(`Deleted ${ok.length} entries successfully`);
        return 0;
      }),
  });

  const filterFlags = (noun: string) =>
    [
      SOCKET_FLAG,
      { name: "parentID", kind: "string", usage: `The Parent ID of the records to ${noun}` },
      { name: "spiffeID", kind: "string", usage: `The SPIFFE ID of the records to ${noun}` },
      { name: "downstream", kind: "bool", usage: "A boolean value that, when set, indicates that the entry describes a downstream SPIRE server" },
      { name: "selector", kind: "stringList", usage: "A colon-delimited type:value selector. Can be used more than once" },
      { name: "federatesWith", kind: "stringList", usage: "SPIFFE ID of a trust domain an entry is federate with. Can be used more than once" },
      {
        name: "matchFederatesWithOn",
        kind: "string",
        default: "superset",
        usage: "The match mode used when filtering by federates with. Options: exact, any, superset and subset",
      },
      {
        name: "matchSelectorsOn",
        kind: "string",
        default: "superset",
        usage: "The match mode used when filtering by selectors. Options: exact, any, superset and subset",
      },
      { name: "hint", kind: "string", default: "", usage: `The Hint of the records to ${noun} (optional)` },
    ] as const;

  function buildFilter(
    v: {
      parentID?: string | undefined;
      spiffeID?: string | undefined;
      downstream: boolean;
      selector: string[];
      federatesWith: string[];
      matchSelectorsOn: string;
      matchFederatesWithOn: string;
      hint: string;
    },
  ): EntryFilter {
    const f: EntryFilter = {};
    if (v.parentID) {
      try {
        f.by_parent_id = idProto(v.parentID);
      } catch (err) {
        throw wrapError(`error parsing parent ID "${v.parentID}"`, err);
      }
    }
    if (v.spiffeID) {
      try {
        f.by_spiffe_id = idProto(v.spiffeID);
      } catch (err) {
        throw wrapError(`error parsing SPIFFE ID "${v.spiffeID}"`, err);
      }
    }
    if (v.selector.length > 0) {
      const match = parseMatch(v.matchSelectorsOn);
      const selectors = v.selector.map((s) => {
        try {
          return parseCLISelector(s);
        } catch (err) {
          throw wrapError("error parsing selectors", err);
        }
      });
      f.by_selectors = { selectors, match };
    }
    if (v.federatesWith.length > 0) {
      f.by_federates_with = { trust_domains: v.federatesWith.map(federatedTD), match: parseMatch(v.matchFederatesWithOn) };
    }
    if (v.hint) f.by_hint = v.hint;
    f.by_downstream = v.downstream;
    return f;
  }

  const show = defineCommand({
    name: "entry show",
    synopsis: "Displays configured registration entries",
    flags: [{ name: "entryID", kind: "string", usage: "The Entry ID of the records to show" }, ...filterFlags("show"), OUTPUT_FLAG] as const,
    examples: ["entry show", "entry show -parentID spiffe://example.org/node1 -output json", "entry show -selector unix:uid:1000 -matchSelectorsOn exact"],
    run: (ctx, { values: v }) =>
      spireAction(ctx, async () => {
        if (v.entryID && (v.parentID || v.spiffeID || v.selector.length > 0)) throw fail("the -entryID flag can't be combined with others");
        const client = dial(v.socketPath);
        let entries: EntryJSON[];
        if (v.entryID) {
          try {
            entries = [entryJSONFromProto(await client.grpc(Entry.method.getEntry, { id: v.entryID }))];
          } catch (err) {
            throw wrapError(`error fetching entry ID ${v.entryID}`, err);
          }
        } else {
          const filter = buildFilter(v);
          try {
            entries = (await client.grpc(Entry.method.listEntries, { filter: entryFilterToProto(filter) })).entries.map(entryJSONFromProto);
          } catch (err) {
            throw wrapError("error fetching entries", err);
          }
        }
        const sorted = sortEntries(entries);
        emit(
          ctx,
          () => `Found ${sorted.length} ${plural(sorted.length, "entry", "entries")}\n` + sorted.map(formatEntryBlock).join(""),
          () => goJSON({ entries: sorted.map(entryProtoJSON), next_page_token: "" }),
        );
      }),
  });

  const count = defineCommand({
    name: "entry count",
    synopsis: "Count registration entries",
    flags: [...filterFlags("count"), OUTPUT_FLAG] as const,
    examples: ["entry count", "entry count -parentID spiffe://example.org/node1 -output json"],
    run: (ctx, { values: v }) =>
      spireAction(ctx, async () => {
        const filter = buildFilter(v);
        const r = await dial(v.socketPath).grpc(Entry.method.countEntries, { filter: entryFilterToProto(filter) });
        emit(ctx, () => `${r.count} registration ${plural(r.count, "entry", "entries")}\n`, () => goJSON({ count: r.count }));
      }),
  });

  return [create, update, del, show, count];
}
