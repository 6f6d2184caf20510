/** The CA journal: what the CA manager persists so a restart reuses a valid CA without calling upstream. @module */

export type SlotID = "A" | "B";
export type SlotStatus = "PREPARED" | "ACTIVE" | "OLD";

export interface X509CAEntry {
  slotID: SlotID;
  /** Unix ms. */
  issuedAt: number;
  notAfter: number;
  /** base64 DER of the CA certificate. */
  certificate: string;
  /** base64 DER of upstream intermediates (empty when self-signed). */
  upstreamChain: string[];
  status: SlotStatus;
  /** Hex SKI of the CA key; the journal is found by the active one. */
  authorityID: string;
}

export interface JWTKeyEntry {
  slotID: SlotID;
  issuedAt: number;
  notAfter: number;
  kid: string;
  status: SlotStatus;
  authorityID: string;
}

export interface Journal {
  x509CAs: X509CAEntry[];
  jwtKeys: JWTKeyEntry[];
}

/** SPIRE keeps at most 10 entries per kind. */
const CAP = 10;

export function emptyJournal(): Journal {
  return { x509CAs: [], jwtKeys: [] };
}

/** Adds or replaces the entry for a slot+authority, keeping the newest CAP entries. */
export function recordX509CA(j: Journal, e: X509CAEntry): Journal {
  const rest = j.x509CAs.filter((x) => x.authorityID !== e.authorityID);
  return { ...j, x509CAs: [...rest, e].slice(-CAP) };
}

export function recordJWTKey(j: Journal, e: JWTKeyEntry): Journal {
  const rest = j.jwtKeys.filter((x) => x.kid !== e.kid);
  return { ...j, jwtKeys: [...rest, e].slice(-CAP) };
}

export function encodeJournal(j: Journal): string {
  return JSON.stringify(j);
}

export function decodeJournal(s: string): Journal {
  const j = JSON.parse(s) as Partial<Journal>;
  return { x509CAs: j.x509CAs ?? [], jwtKeys: j.jwtKeys ?? [] };
}
