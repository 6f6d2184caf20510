/**
 * Who calls on the server port: SPIRE's handshake check (pkg/server/endpoints/auth.go) and caller middleware
 * (pkg/server/api/middleware/caller.go). No certificate makes an unauthenticated caller; a certificate must be an
 * X509-SVID with one URI SAN, of the server's trust domain or listed in `admin_ids` (a foreign one verified against
 * that trust domain's federated bundle), and its chain must verify against that bundle.
 * @module
 */
import { UnauthenticatedError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { TLSCaller } from "../../core/ports/grpc_server.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { parseCertificate, verifyX509SVID } from "../../core/x509/mod.ts";
import type { DataStore } from "../datastore/datastore.ts";

export interface TLSCallerDeps {
  ds: DataStore;
  clock: Clock;
  trustDomain: spiffeid.TrustDomain;
  /** `admin_ids`: the only IDs of other trust domains let in. */
  adminIDs: readonly string[];
  logger: Logger;
}

/**
 * Returns the server port's `authenticate` hook.
 * @throws {UnauthenticatedError} for a certificate that is not an acceptable X509-SVID (SPIRE fails the handshake)
 */
export function tlsCallerAuthenticator(d: TLSCallerDeps): (peer: { chain: Uint8Array[]; address: string }) => Promise<TLSCaller> {
  const admins = new Set(d.adminIDs);
  return async ({ chain, address }) => {
    if (chain.length === 0) return { address };
    const fail = (why: string, cause?: unknown) =>
      new UnauthenticatedError(`client certificate is not acceptable: ${why}`, cause === undefined ? undefined : { cause });
    let leaf;
    try {
      leaf = parseCertificate(chain[0]!);
    } catch (cause) {
      throw fail("x509svid: could not parse leaf certificate", cause);
    }
    if (leaf.uris.length !== 1) {
      throw fail(`x509svid: could not get leaf SPIFFE ID: certificate contains ${leaf.uris.length === 0 ? "no URI SAN" : "more than one URI SAN"}`);
    }
    let id: spiffeid.ID;
    try {
      id = spiffeid.fromString(leaf.uris[0]!);
    } catch (cause) {
      throw fail(`x509svid: could not get leaf SPIFFE ID: ${(cause as Error).message}`, cause);
    }
    const foreign = !id.memberOf(d.trustDomain);
    if (foreign && !admins.has(id.toString())) throw fail(`unexpected trust domain in ID "${id}"`);
    const bundle = await d.ds.fetchBundle(id.trustDomain.name);
    if (!bundle) {
      if (foreign) {
        d.logger.warn(
          "No bundle found for foreign admin trust domain; admins from this trust domain will not be able to connect. Make sure this trust domain is correctly federated.",
          { [F.TRUST_DOMAIN]: id.trustDomain.name },
        );
      }
      throw fail(`no bundle found for trust domain "${id.trustDomain.name}"`);
    }
    const now = d.clock.now();
    // An expired SVID whose chain is otherwise ours is told apart, so that an agent learns to re-attest (AGENT_EXPIRED)
    // instead of failing to connect.
    const expired = now.getTime() > leaf.notAfter.getTime();
    const at = expired ? new Date(leaf.notAfter.getTime() - 1000) : now;
    try {
      const v = await verifyX509SVID(chain, bundle.x509Authorities, at);
      return { address, id: v.spiffeID, chain: v.chain, ...(expired ? { expired: true } : {}) };
    } catch (cause) {
      throw fail((cause as Error).message, cause);
    }
  };
}
