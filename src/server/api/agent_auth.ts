/**
 * Authenticating agents by their agent SVID (the TLS client certificate) on every agent API call, with SPIRE's
 * AgentAuthorizer texts and PermissionDeniedDetails reasons, which agents act on (re-attest, shut down).
 * @module
 */
import { PermissionDeniedError, UnauthenticatedError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import { type Logger, nullLogger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { parseCertificate, verifyX509SVID } from "../../core/x509/mod.ts";
import type { AttestedNode, DataStore } from "../datastore/datastore.ts";
import { VerifiedChains } from "./verified_chains.ts";

export interface AuthenticatedAgent {
  id: string;
  node: AttestedNode;
  serialHex: string;
}

/** SPIRE's `types.PermissionDeniedDetails_Reason` names. */
export type AgentDeniedReason = "AGENT_EXPIRED" | "AGENT_NOT_ATTESTED" | "AGENT_BANNED" | "AGENT_NOT_ACTIVE" | "AGENT_MUST_REATTEST";

const denied = (reason: AgentDeniedReason, message: string) => new PermissionDeniedError(message, { reason });

/**
 * Verifies the chain against the bundle, then checks the attested node: it must exist, not be banned, and
 * present its current serial or the renewed one (which then becomes current, as SPIRE's RenewAgent flow).
 * An expired SVID whose chain is otherwise valid is told apart (AGENT_EXPIRED) so the agent knows to re-attest.
 * `verified`: chains already checked against the current bundle skip the signature checks.
 */
export async function authenticateAgent(
  cfg: { ds: DataStore; clock: Clock; trustDomain: spiffeid.TrustDomain; logger?: Logger; verified?: VerifiedChains | undefined },
  chain: Uint8Array[] | undefined,
): Promise<AuthenticatedAgent> {
  if (!chain || chain.length === 0) throw new UnauthenticatedError("agent SVID is required");
  const log = cfg.logger ?? nullLogger;
  const bundle = await cfg.ds.fetchBundle(cfg.trustDomain.name);
  const now = cfg.clock.now();
  let leaf;
  try {
    leaf = parseCertificate(chain[0]!);
  } catch (cause) {
    throw new UnauthenticatedError("invalid agent SVID", { cause });
  }
  // The signatures are checked at a moment the leaf was valid, so an expired SVID is still proven to be ours.
  const expired = now.getTime() > leaf.notAfter.getTime();
  const at = expired ? new Date(leaf.notAfter.getTime() - 1000) : now;
  const key = expired || !cfg.verified ? undefined : VerifiedChains.key(chain, bundle?.sequence ?? 0);
  let id = key === undefined ? undefined : cfg.verified!.get(key, now.getTime());
  if (id === undefined) {
    let path: Uint8Array[];
    try {
      ({ spiffeID: id, chain: path } = await verifyX509SVID(chain, bundle?.x509Authorities ?? [], at));
    } catch (cause) {
      throw new UnauthenticatedError("invalid agent SVID", { cause });
    }
    // Good until the first certificate of the verified path (leaf to root) expires.
    if (key !== undefined) cfg.verified!.set(key, id, Math.min(...path.map((c) => parseCertificate(c).notAfter.getTime())));
  }
  const parsed = spiffeid.fromString(id);
  if (!parsed.memberOf(cfg.trustDomain) || !parsed.path.startsWith("/spire/agent/")) {
    throw new PermissionDeniedError(`caller "${id}" is not an agent`);
  }
  return await authorizeAgent({ ...cfg, logger: log }, { id, serialHex: leaf.serialHex, expired });
}

/**
 * SPIRE's AgentAuthorizer (pkg/server/endpoints/middleware.go) for an agent whose chain is already verified: the SVID
 * must not have expired, the attested node must exist and not be banned, and the serial must be the node's current
 * one or its renewed one (which then becomes current).
 * @throws {PermissionDeniedError} with reason AGENT_EXPIRED, AGENT_NOT_ATTESTED, AGENT_BANNED or AGENT_NOT_ACTIVE
 */
export async function authorizeAgent(
  cfg: { ds: DataStore; logger?: Logger },
  svid: { id: string; serialHex: string; expired: boolean },
): Promise<AuthenticatedAgent> {
  const { id, serialHex } = svid;
  const alog = (cfg.logger ?? nullLogger).with({ [F.AGENT_ID]: id });
  if (svid.expired) {
    alog.error("Agent SVID is expired");
    throw denied("AGENT_EXPIRED", `agent "${id}" SVID is expired`);
  }
  const node = await cfg.ds.fetchAttestedNode(id);
  if (!node) {
    alog.error("Agent is not attested");
    throw denied("AGENT_NOT_ATTESTED", `agent "${id}" is not attested`);
  }
  if (node.banned) {
    alog.error("Agent is banned");
    throw denied("AGENT_BANNED", `agent "${id}" is banned`);
  }
  if (serialHex === node.newCertSerial && node.newCertSerial !== "") {
    const promoted = { ...node, certSerial: node.newCertSerial, certNotAfter: node.newCertNotAfter, newCertSerial: "", newCertNotAfter: 0 };
    await cfg.ds.updateAttestedNode(promoted);
    return { id, node: promoted, serialHex };
  }
  if (serialHex !== node.certSerial) {
    alog.error("Agent SVID is not active", { svid_serial_num: serialHex, serial_num: node.certSerial });
    throw denied("AGENT_NOT_ACTIVE", `agent "${id}" expected to have serial number "${node.certSerial}"; has "${serialHex}"`);
  }
  return { id, node, serialHex };
}
