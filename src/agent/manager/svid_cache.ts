/** The agent's cache of workload identities: entries from the server, each with its current X509-SVID. @module */
import type { Selector } from "../../core/selector.ts";

/** SPIRE's default x509_svid_cache_max_size. */
export const DEFAULT_SVID_CACHE_MAX_SIZE = 1000;

export interface CachedEntry {
  id: string;
  spiffeID: string;
  parentID: string;
  selectors: Selector[];
  x509SVIDTTL: number;
  dnsNames: string[];
  hint: string;
  revisionNumber: number;
  createdAt: number;
  /** Trust domain names whose bundles this entry's workloads receive. */
  federatesWith?: string[];
}

/** A foreign trust domain's bundle as the agent holds it. */
export interface FederatedBundle {
  /** "spiffe://<td>", as the Workload API keys bundles. */
  trustDomain: string;
  roots: Uint8Array[];
  jwtKeys: { kid: string; publicKey: Uint8Array; notAfter: number }[];
}

export interface CachedSVID {
  /** Leaf first, DER. */
  chain: Uint8Array[];
  /** PKCS#8 DER of the private key. */
  keyPKCS8: Uint8Array;
  issuedAt: Date;
  notAfter: Date;
  /** When to replace it: half its life ± 10 % (SPIRE rotationutil). */
  rotateAt: Date;
  /** The entry revision it was minted for. */
  revision: number;
}

export interface Identity {
  entry: CachedEntry;
  svid: CachedSVID;
}

export interface BundleState {
  trustDomain: string;
  roots: Uint8Array[];
  jwtKeys: { kid: string; publicKey: Uint8Array; notAfter: number }[];
  sequence: number;
  /** Bumped only when the X.509 roots change, so X.509 streams ignore JWT-key-only bundle updates. */
  rootsVersion: number;
}

/** True when every selector of the entry is among the workload's (SPIRE's subset match). */
export function entryMatches(entry: CachedEntry, workload: Selector[]): boolean {
  const have = new Set(workload.map((s) => `${s.type}:${s.value}`));
  return entry.selectors.every((s) => have.has(`${s.type}:${s.value}`));
}

const byAge = (a: CachedEntry, b: CachedEntry) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Oldest entry first, then by id: a stable order so svids[0] (the default identity) does not flap. */
export function sortIdentities(ids: Identity[]): Identity[] {
  return ids.sort((a, b) => byAge(a.entry, b.entry));
}

/** sortIdentities' order for entries alone. */
export function sortEntries(entries: CachedEntry[]): CachedEntry[] {
  return entries.sort(byAge);
}

/** Entries that only name a node (alias entries with spiffe_id selectors) are never served to workloads. */
export function isWorkloadEntry(e: CachedEntry): boolean {
  // Node aliases (join-token alias entries, and entries whose parent is the server ID) name nodes, not workloads.
  return !e.selectors.some((s) => s.type === "spiffe_id") && !/^spiffe:\/\/[^/]+\/spire\/server$/.test(e.parentID);
}

/** Computes the rotation time with SPIRE's jitter: half of the lifetime, ± 10 %. */
export function rotationTime(issuedAt: Date, notAfter: Date, random: () => number): Date {
  const life = notAfter.getTime() - issuedAt.getTime();
  const half = life / 2;
  const jitter = (random() * 2 - 1) * 0.1 * half;
  return new Date(issuedAt.getTime() + half + jitter);
}
