/** `entry create`, `entry show`, `entry delete` with SPIRE's flags, texts and output. @module */
import { defineCommand, type Command } from "../../core/cli/command.ts";
import { OUTPUT_FLAG } from "../../core/cli/printer.ts";
import { InvalidArgumentError, UsageError } from "../../core/errors.ts";
import { formatSelector, parseSelector } from "../../core/selector.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import type { EntryJSON } from "../api/entry_json.ts";
import { type AdminDialer, SOCKET_FLAG } from "./admin_client.ts";
import { formatEntry } from "./entry_format.ts";

interface Result {
  status: { status: string; code?: string; message?: string };
  entry?: EntryJSON;
}

export function entryCommands(dial: AdminDialer): Command[] {
  const create = defineCommand({
    name: "entry create",
    synopsis: "Creates registration entries",
    flags: [
      SOCKET_FLAG,
      { name: "spiffeID", kind: "string", usage: "The SPIFFE ID that this record represents" },
      { name: "parentID", kind: "string", usage: "The SPIFFE ID of this record's parent" },
      { name: "selector", kind: "stringList", usage: "A colon-delimited type:value selector. Can be used more than once" },
      { name: "x509SVIDTTL", kind: "int", default: 0, usage: "The lifetime, in seconds, for x509-SVIDs issued based on this registration entry" },
      { name: "jwtSVIDTTL", kind: "int", default: 0, usage: "The lifetime, in seconds, for JWT-SVIDs issued based on this registration entry" },
      { name: "dns", kind: "stringList", usage: "A DNS name that will be included in SVIDs issued based on this entry, where appropriate. Can be used more than once" },
      { name: "hint", kind: "string", usage: "The entry hint, used to disambiguate entries with the same SPIFFE ID" },
      { name: "admin", kind: "bool", usage: "If set, the SPIFFE ID in this entry will be granted access to the SPIRE Server's management APIs" },
      { name: "downstream", kind: "bool", usage: "A boolean value that, when set, indicates that the entry describes a downstream SPIRE server" },
      { name: "node", kind: "bool", usage: "If set, this entry will be applied to matching nodes rather than workloads" },
      { name: "entryID", kind: "string", usage: "A custom ID for this registration entry (optional). If not set, a new entry ID will be generated" },
      OUTPUT_FLAG,
    ] as const,
    examples: [
      "entry create -parentID spiffe://example.org/node1 -spiffeID spiffe://example.org/web -selector unix:uid:1000",
      "entry create -node -spiffeID spiffe://example.org/nodes -selector join_token:...",
    ],
    async run(ctx, { values: v }) {
      if (!v.spiffeID) throw new UsageError("a SPIFFE ID is required");
      if (!v.node && !v.parentID) throw new UsageError("a parent ID is required if the node flag is not set");
      if (v.selector.length === 0) throw new UsageError("at least one selector is required");
      const selectors = v.selector.map(parseSelector);
      const sid = spiffeid.fromString(v.spiffeID);
      const parentID = v.node ? spiffeid.serverID(sid.trustDomain).toString() : spiffeid.fromString(v.parentID!).toString();
      const r = await dial(v.socketPath).call<{ results: Result[] }>("POST", "/entry/v1/entries", {
        entries: [{
          ...(v.entryID ? { id: v.entryID } : {}),
          spiffe_id: sid.toString(),
          parent_id: parentID,
          selectors,
          x509_svid_ttl: v.x509SVIDTTL,
          jwt_svid_ttl: v.jwtSVIDTTL,
          dns_names: v.dns,
          hint: v.hint ?? "",
          admin: v.admin,
          downstream: v.downstream,
        }],
      });
      const res = r.results[0]!;
      if (!res.entry) throw new InvalidArgumentError(`failed to create entry: ${res.status.message ?? res.status.status}`);
      ctx.printer.result(() => formatEntry(res.entry!), { results: r.results });
      return 0;
    },
  });

  const show = defineCommand({
    name: "entry show",
    synopsis: "Displays configured registration entries",
    flags: [
      SOCKET_FLAG,
      { name: "entryID", kind: "string", usage: "The Entry ID of the records to show" },
      { name: "parentID", kind: "string", usage: "The Parent ID of the records to show" },
      { name: "spiffeID", kind: "string", usage: "The SPIFFE ID of the records to show" },
      { name: "selector", kind: "stringList", usage: "A colon-delimited type:value selector. Can be used more than once" },
      OUTPUT_FLAG,
    ] as const,
    examples: ["entry show", "entry show -parentID spiffe://example.org/node1 -output json"],
    async run(ctx, { values: v }) {
      const client = dial(v.socketPath);
      let entries: EntryJSON[];
      if (v.entryID) entries = [await client.call<EntryJSON>("GET", `/entry/v1/entries/${encodeURIComponent(v.entryID)}`)];
      else {
        const q = new URLSearchParams();
        if (v.parentID) q.set("parentID", spiffeid.fromString(v.parentID).toString());
        if (v.spiffeID) q.set("spiffeID", spiffeid.fromString(v.spiffeID).toString());
        for (const s of v.selector) q.append("selector", formatSelector(parseSelector(s)));
        entries = (await client.call<{ entries: EntryJSON[] }>("GET", `/entry/v1/entries?${q}`)).entries;
      }
      ctx.printer.result(
        () => `Found ${entries.length} ${entries.length === 1 ? "entry" : "entries"}\n` + entries.map((e) => formatEntry(e)).join("\n"),
        { entries },
      );
      return 0;
    },
  });

  const del = defineCommand({
    name: "entry delete",
    synopsis: "Deletes registration entries",
    flags: [SOCKET_FLAG, { name: "entryID", kind: "string", usage: "The Registration Entry ID of the record to delete." }, OUTPUT_FLAG] as const,
    examples: ["entry delete -entryID 0d7c7e5a-…"],
    async run(ctx, { values: v }) {
      if (!v.entryID) throw new UsageError("an entry ID is required");
      const e = await dial(v.socketPath).call<EntryJSON>("DELETE", `/entry/v1/entries/${encodeURIComponent(v.entryID)}`);
      ctx.printer.result(`Deleted entry with ID: ${e.id}`, { results: [{ status: { code: 0, message: "OK" }, id: e.id }] });
      return 0;
    },
  });
  return [create, show, del];
}
