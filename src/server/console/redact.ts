/**
 * Join token values inside SPIFFE IDs. A join-token agent's ID is `spiffe://<td>/spire/agent/join_token/<token>`, and
 * `token generate -spiffeID` writes an entry whose parent ID and `spiffe_id` selector carry that ID before any agent
 * has used the token: shown as is, the console would hand out a usable token. Until an agent has attested with it
 * the token part is replaced, and search runs on the replaced text so it cannot be probed character by character.
 * @module
 */
import type { Selector } from "../../core/selector.ts";

const JOIN_TOKEN_ID = /^(spiffe:\/\/[^/]+\/spire\/agent\/join_token\/)(.+)$/;

/** What replaces an unused token. */
export const REDACTED_TOKEN = "(unused join token)";

/** `id` as the console shows it: unchanged unless it names a join token no agent has attested with yet. */
export function redactID(id: string, attested: ReadonlySet<string>): string {
  const m = JOIN_TOKEN_ID.exec(id);
  return m && !attested.has(id) ? m[1] + REDACTED_TOKEN : id;
}

/** A selector as the console shows it; only `spiffe_id` selectors hold IDs. */
export function redactSelector(s: Selector, attested: ReadonlySet<string>): Selector {
  return s.type === "spiffe_id" ? { type: s.type, value: redactID(s.value, attested) } : s;
}
