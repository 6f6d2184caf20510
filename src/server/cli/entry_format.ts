/** SPIRE's pretty form of registration entries (cmd/spire-server/cli/entry/util.go printEntry). @module */
import type { EntryJSON } from "../api/entry_json.ts";

const id = (j: { trust_domain: string; path: string }) => `spiffe://${j.trust_domain}${j.path}`;

export function formatEntry(e: EntryJSON): string {
  const lines = [
    `Entry ID         : ${e.id}`,
    `SPIFFE ID        : ${id(e.spiffe_id)}`,
    `Parent ID        : ${id(e.parent_id)}`,
    `Revision         : ${e.revision_number}`,
  ];
  if (e.downstream) lines.push("Downstream       : true");
  lines.push(`X509-SVID TTL    : ${e.x509_svid_ttl === 0 ? "default" : e.x509_svid_ttl}`);
  lines.push(`JWT-SVID TTL     : ${e.jwt_svid_ttl === 0 ? "default" : e.jwt_svid_ttl}`);
  for (const s of e.selectors) lines.push(`Selector         : ${s.type}:${s.value}`);
  for (const d of e.dns_names) lines.push(`DNS name         : ${d}`);
  if (e.admin) lines.push("Admin            : true");
  if (e.hint) lines.push(`Hint             : ${e.hint}`);
  return lines.join("\n") + "\n";
}
