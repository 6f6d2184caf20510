/**
 * SPIRE's CLI output forms: protobuf JSON as SPIRE's cliprinter writes it (pkg/common/cliprinter/internal/protojson:
 * proto names, unpopulated fields emitted, nulls dropped, keys sorted, one compact line), Go's time.Time text, and the
 * entry block of `entry show|create|update` (cmd/spire-server/cli/entry/util.go printEntry).
 * @module
 */
import type { EntryJSON } from "../api/entry_json.ts";

/** Marks an int64 field: protobuf JSON prints 64-bit integers as strings. */
export const int64 = (n: number): string => String(n);

function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.filter((x) => x !== null && x !== undefined).map(sortDeep);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== null && x !== undefined) out[k] = sortDeep(x);
    }
    return out;
  }
  return v;
}

/** One JSON document as Go's encoding/json writes a re-marshalled map: sorted keys, HTML characters escaped, newline. */
export function goJSON(v: unknown): string {
  return JSON.stringify(sortDeep(v)).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) + "\n";
}

/** A Go struct marshalled by encoding/json (field order kept, no sorting), as `x509 mint -output json` prints. */
export function goStructJSON(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) + "\n";
}

const pad = (n: number) => String(n).padStart(2, "0");

/** `time.Unix(s, 0).UTC()` printed with %s: `2026-12-06 18:29:19 +0000 UTC`. */
export function goTimeUTC(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${
    pad(d.getUTCSeconds())
  } +0000 UTC`;
}

/** `util.Pluralizer`. */
export function plural(n: number, singular: string, pluralForm: string): string {
  return n === 1 ? singular : pluralForm;
}

/** An entry as `types.Entry` in protobuf JSON (int64 fields as strings). */
export function entryProtoJSON(e: EntryJSON): Record<string, unknown> {
  return {
    id: e.id,
    spiffe_id: e.spiffe_id,
    parent_id: e.parent_id,
    selectors: e.selectors.map((s) => ({ type: s.type, value: s.value })),
    x509_svid_ttl: e.x509_svid_ttl,
    federates_with: e.federates_with ?? [],
    admin: e.admin,
    downstream: e.downstream,
    expires_at: int64(e.expires_at ?? 0),
    dns_names: e.dns_names,
    revision_number: int64(e.revision_number),
    store_svid: e.store_svid ?? false,
    jwt_svid_ttl: e.jwt_svid_ttl,
    hint: e.hint,
    created_at: int64(e.created_at),
  };
}

const idString = (j: { trust_domain: string; path: string } | undefined) => (j ? `spiffe://${j.trust_domain}${j.path}` : "");

/** SPIRE's printEntry, byte for byte; the block ends with a blank line. */
export function formatEntryBlock(e: Partial<EntryJSON>): string {
  const lines = [
    `Entry ID                : ${e.id ? e.id : "(none)"}`,
    `SPIFFE ID               : ${idString(e.spiffe_id)}`,
    `Parent ID               : ${idString(e.parent_id)}`,
    `Revision                : ${e.revision_number ?? 0}`,
  ];
  if (e.downstream) lines.push("Downstream              : true");
  lines.push(`X509-SVID TTL           : ${e.x509_svid_ttl ? e.x509_svid_ttl : "default"}`);
  lines.push(`JWT-SVID TTL            : ${e.jwt_svid_ttl ? e.jwt_svid_ttl : "default"}`);
  if (e.expires_at) lines.push(`Expiration time         : ${goTimeUTC(e.expires_at)}`);
  for (const s of e.selectors ?? []) lines.push(`Selector                : ${s.type}:${s.value}`);
  for (const f of e.federates_with ?? []) lines.push(`FederatesWith           : ${f}`);
  for (const d of e.dns_names ?? []) lines.push(`DNS name                : ${d}`);
  if (e.admin) lines.push("Admin                   : true");
  if (e.store_svid) lines.push("StoreSvid               : true");
  if (e.hint) lines.push(`Hint                    : ${e.hint}`);
  return lines.join("\n") + "\n\n";
}

/** SPIRE's entry order for `entry show` (pkg/common/util/sort.go SortTypesEntries); selectors sorted too. */
export function sortEntries(entries: EntryJSON[]): EntryJSON[] {
  const cmpSel = (a: { type: string; value: string }, b: { type: string; value: string }) => cmp(a.type, b.type) || cmp(a.value, b.value);
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const out = entries.map((e) => ({ ...e, selectors: [...e.selectors].sort(cmpSel) }));
  return out.sort((a, b) =>
    cmp(a.spiffe_id.trust_domain, b.spiffe_id.trust_domain) || cmp(a.spiffe_id.path, b.spiffe_id.path) ||
    cmp(a.parent_id.trust_domain, b.parent_id.trust_domain) || cmp(a.parent_id.path, b.parent_id.path) ||
    a.x509_svid_ttl - b.x509_svid_ttl || a.jwt_svid_ttl - b.jwt_svid_ttl ||
    a.selectors.length - b.selectors.length ||
    a.selectors.reduce((r, s, i) => r || cmpSel(s, b.selectors[i]!), 0)
  );
}

/** grpc-go's code names by number, as SPIRE prints `(code: NotFound, msg: "…")`. */
export const CODE_NAME: Record<number, string> = {
  0: "OK",
  1: "Canceled",
  2: "Unknown",
  3: "InvalidArgument",
  4: "DeadlineExceeded",
  5: "NotFound",
  6: "AlreadyExists",
  7: "PermissionDenied",
  8: "ResourceExhausted",
  9: "FailedPrecondition",
  10: "Aborted",
  11: "OutOfRange",
  12: "Unimplemented",
  13: "Internal",
  14: "Unavailable",
  15: "DataLoss",
  16: "Unauthenticated",
};

/** Go's %q for a plain string (what SPIRE uses around status messages). */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}
