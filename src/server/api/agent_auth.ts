/** Authenticating agents by their agent SVID (the TLS client certificate) on every agent API call. @module */
import { PermissionDeniedError, UnauthenticatedError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/clock.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { parseCertificate, verifyX509SVID } from "../../core/x509/mod.ts";
import type { AttestedNode, DataStore } from "../datastore/datastore.ts";

export interface AuthenticatedAgent {
  id: string;
  node: AttestedNode;
  serialHex: string;
}

/**
 * Verifies the chain against the bundle, then checks the attested node: it must exist, not be banned, and
 * present its current serial or the renewed one (which then becomes current, as SPIRE's RenewAgent flow).
 */
export async function authenticateAgent(
  cfg: { ds: DataStore; clock: Clock; trustDomain: spiffeid.TrustDomain },
  chain: Uint8Array[] | undefined,
): Promise<AuthenticatedAgent> {
  if (!chain || chain.length === 0) throw new UnauthenticatedError("agent SVID is required");
  const bundle = await cfg.ds.fetchBundle(cfg.trustDomain.name);
  let id: string;
  try {
    id = (await verifyX509SVID(chain, bundle?.x509Authorities ?? [], cfg.clock.now())).spiffeID;
  } catch (cause) {
    throw new UnauthenticatedError("invalid agent SVID", { cause });
  }
  const parsed = spiffeid.fromString(id);
  if (!parsed.memberOf(cfg.trustDomain) || !parsed.path.startsWith("/spire/agent/")) {
    throw new PermissionDeniedError(`caller "${id}" is not an agent`);
  }
  const node = await cfg.ds.fetchAttestedNode(id);
  if (!node) throw new PermissionDeniedError("agent is not attested or no longer valid");
  // SPIRE's AgentAuthorizer text; the reason (PermissionDeniedDetails) tells the agent to delete its SVID and stop.
  if (node.banned) throw new PermissionDeniedError(`agent "${id}" is banned`, { reason: "AGENT_BANNED" });
  const serialHex = parseCertificate(chain[0]!).serialHex;
  if (serialHex === node.newCertSerial && node.newCertSerial !== "") {
    const promoted = { ...node, certSerial: node.newCertSerial, certNotAfter: node.newCertNotAfter, newCertSerial: "", newCertNotAfter: 0 };
    await cfg.ds.updateAttestedNode(promoted);
    return { id, node: promoted, serialHex };
  }
  if (serialHex !== node.certSerial) throw new PermissionDeniedError("agent SVID does not match the attested node");
  return { id, node, serialHex };
}
