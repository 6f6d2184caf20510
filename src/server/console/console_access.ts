/**
 * Who may open the console. On a loopback address anyone on this host may (it is read-only and shows no secret); on
 * any other address the listener is HTTPS and only a client presenting an X509-SVID of this trust domain whose
 * SPIFFE ID is in the server's `admin_ids` is let in; everything else is refused.
 * @module
 */
import { PermissionDeniedError, UnauthenticatedError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/clock.ts";
import { verifyX509SVID } from "../../core/x509/mod.ts";
import type { DataStore } from "../datastore/datastore.ts";

/** True for addresses only this host can reach: 127.0.0.0/8, ::1 and "localhost". */
export function isLoopbackAddress(addr: string): boolean {
  const a = addr.replace(/^\[|\]$/g, "").toLowerCase();
  return a === "localhost" || a === "::1" || /^127\.\d+\.\d+\.\d+$/.test(a) || /^::ffff:127\.\d+\.\d+\.\d+$/.test(a);
}

export interface ConsoleAccessConfig {
  /** The listener's bind address; loopback needs no client certificate. */
  bindAddress: string;
  /** `admin_ids`: SPIFFE IDs allowed in over mTLS. */
  adminIDs: readonly string[];
  ds: DataStore;
  trustDomain: string;
  clock: Clock;
}

/**
 * Resolves with the caller's identity ("loopback" or its SPIFFE ID).
 * @throws {UnauthenticatedError} without a valid X509-SVID of the trust domain
 * @throws {PermissionDeniedError} when the SVID's ID is not an admin ID
 */
export async function authorizeConsole(cfg: ConsoleAccessConfig, peerChain: readonly Uint8Array[] | undefined): Promise<string> {
  if (isLoopbackAddress(cfg.bindAddress)) return "loopback";
  if (!peerChain || peerChain.length === 0) throw new UnauthenticatedError("a client certificate (an X509-SVID listed in admin_ids) is required");
  const bundle = await cfg.ds.fetchBundle(cfg.trustDomain);
  let id: string;
  try {
    id = (await verifyX509SVID(peerChain, bundle?.x509Authorities ?? [], cfg.clock.now())).spiffeID;
  } catch (cause) {
    throw new UnauthenticatedError("client certificate is not a valid X509-SVID of this trust domain", { cause });
  }
  if (!cfg.adminIDs.includes(id)) throw new PermissionDeniedError(`caller "${id}" is not an admin (admin_ids)`);
  return id;
}
