/**
 * What an agent asks of the server, as plain functions shared by both transports of the agent API: wisp's HTTPS routes
 * (agent_app.ts) and SPIRE's gRPC services on the server port (../grpcapi/). Node attestation after the plugin, agent
 * SVID renewal, workload X509-SVID batches and JWT-SVIDs, with SPIRE's texts and log lines.
 * @module
 */
import { FailedPreconditionError, formatError, InvalidArgumentError, NotFoundError, PermissionDeniedError, UnavailableError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Registry } from "../../core/metrics/registry.ts";
import { parseAndVerifyCSR } from "../../core/x509/mod.ts";
import type { JWTSVIDSigner } from "../ca/jwt_signer.ts";
import type { IssuedX509SVID, ServerCA } from "../ca/server_ca.ts";
import type { DataStore, RegistrationEntry } from "../datastore/datastore.ts";
import type { ChallengeFn, ServerNodeAttestor } from "../nodeattestor/node_attestor.ts";
import type { AuthenticatedAgent } from "./agent_auth.ts";
import type { SyncHub } from "./sync_hub.ts";

export interface AgentSigningDeps {
  ds: DataStore;
  ca: ServerCA;
  /** Absent: JWT-SVID requests answer "JWT-SVIDs are not available". */
  jwt?: JWTSVIDSigner | undefined;
  /** `disable_jwt_svids`. */
  jwtDisabled?: boolean | undefined;
  hub: SyncHub;
  /** The agent API's logger (subsystem agent_api). */
  log: Logger;
  /** Agent SVID TTL, seconds. */
  agentTTL: number;
  /** Counts attestations by result in `wisp_server_node_attestations_total`. */
  metrics?: Registry | undefined;
}

/** SPIRE's per-call limit for BatchNewX509SVID. */
export const MAX_X509_BATCH = 500;

/**
 * The public key of a CSR whose signature verifies; nothing else of the CSR is used.
 * @throws {InvalidArgumentError} ERR_CSR_INVALID
 */
export async function csrPublicKey(der: Uint8Array): Promise<Uint8Array> {
  try {
    return (await parseAndVerifyCSR(der)).publicKeySPKI;
  } catch (cause) {
    throw new InvalidArgumentError("malformed CSR", { cause, code: "ERR_CSR_INVALID" });
  }
}

export interface AttestedAgent {
  agentID: string;
  svid: IssuedX509SVID;
  reattestable: boolean;
}

/**
 * SPIRE's AttestAgent after the transport: runs the plugin (with its challenges), refuses a banned node, signs the
 * agent SVID, then creates or updates the attested node.
 * @throws {PermissionDeniedError} "failed to attest: agent is banned"; whatever the attestor throws
 */
export async function attestAgent(
  d: AgentSigningDeps,
  o: { attestor: ServerNodeAttestor; payload: Uint8Array; publicKey: Uint8Array; clientIP: string | undefined; challenge: ChallengeFn },
): Promise<AttestedAgent> {
  const attestations = d.metrics?.counter("wisp_server_node_attestations_total", "Node attestations by result");
  try {
    const out = await attestOnce(d, o);
    attestations?.inc({ result: "success" });
    return out;
  } catch (err) {
    attestations?.inc({ result: "failure" });
    throw err;
  }
}

async function attestOnce(
  d: AgentSigningDeps,
  o: { attestor: ServerNodeAttestor; payload: Uint8Array; publicKey: Uint8Array; clientIP: string | undefined; challenge: ChallengeFn },
): Promise<AttestedAgent> {
  const result = await o.attestor.attest(o.payload, o.challenge, { clientIP: o.clientIP });
  const agentID = result.agentID.toString();
  const existing = await d.ds.fetchAttestedNode(agentID);
  if (existing?.banned) throw new PermissionDeniedError("failed to attest: agent is banned");
  const svid = await d.ca.signX509SVID({ spiffeID: agentID, publicKeySPKI: o.publicKey, ttl: d.agentTTL });
  const node = {
    spiffeID: agentID,
    attestationType: o.attestor.name,
    certSerial: svid.serialHex,
    certNotAfter: Math.floor(svid.notAfter.getTime() / 1000),
    newCertSerial: "",
    newCertNotAfter: 0,
    canReattest: result.canReattest,
    banned: false,
    selectors: result.selectors,
  };
  if (existing) await d.ds.updateAttestedNode(node);
  else await d.ds.createAttestedNode(node);
  // An agent's node selectors decide which node aliases (and so which entries) reach it, and only it: a stream it
  // still holds from before a re-attestation must hear about a change. A new agent gets its first snapshot when it
  // connects, so an attestation storm causes no pushes.
  if (existing && JSON.stringify(existing.selectors) !== JSON.stringify(node.selectors)) {
    void d.hub.nodeChanged(agentID).catch((err) => d.log.warn("Failed to push changed node aliases", { [F.AGENT_ID]: agentID, [F.ERROR]: formatError(err) }));
  }
  d.log.info("Agent attestation request completed", {
    [F.AGENT_ID]: agentID,
    node_attestor_type: o.attestor.name,
    reattestable: result.canReattest,
    ...(o.clientIP ? { [F.ADDRESS]: o.clientIP } : {}),
  });
  return { agentID, svid, reattestable: result.canReattest };
}

/**
 * A re-attestable agent renews by attesting again (SPIRE's RenewAgent refuses it before reading the request).
 * @throws {PermissionDeniedError} AGENT_MUST_REATTEST "agent must reattest instead of renew"
 */
export function checkRenewable(agent: AuthenticatedAgent): void {
  if (agent.node.canReattest) throw new PermissionDeniedError("agent must reattest instead of renew", { reason: "AGENT_MUST_REATTEST" });
}

/** `disable_jwt_svids`: @throws {FailedPreconditionError} "JWT functionality is disabled" */
export function checkJWTEnabled(d: AgentSigningDeps): void {
  // SPIRE answers Unimplemented (svid/v1 NewJWTSVID); wisp's clients read that code as FailedPrecondition too.
  if (d.jwtDisabled) throw new FailedPreconditionError("JWT functionality is disabled");
}

/**
 * SPIRE's RenewAgent: a new agent SVID for the key of `csr`; the old serial stays valid until the agent first uses the
 * new one.
 * @throws {PermissionDeniedError} AGENT_MUST_REATTEST "agent must reattest instead of renew"
 */
export async function renewAgent(d: AgentSigningDeps, agent: AuthenticatedAgent, csr: Uint8Array): Promise<IssuedX509SVID> {
  checkRenewable(agent);
  const publicKey = await csrPublicKey(csr);
  const svid = await d.ca.signX509SVID({ spiffeID: agent.id, publicKeySPKI: publicKey, ttl: d.agentTTL });
  await d.ds.updateAttestedNode({
    ...agent.node,
    newCertSerial: svid.serialHex,
    newCertNotAfter: Math.floor(svid.notAfter.getTime() / 1000),
  });
  d.log.debug("Agent SVID renewed", { [F.AGENT_ID]: agent.id });
  return svid;
}

/** One request of a batch: an entry the agent is authorized for, and a CSR for its key. */
export interface X509SVIDRequest {
  entryID: string;
  csr: Uint8Array;
}

/** One answer of a batch, in request order: the SVID (its SPIFFE ID from the entry) or the error for that item. */
export type X509SVIDResult = { spiffeID: string; svid: IssuedX509SVID } | { error: unknown };

/**
 * SPIRE's BatchNewX509SVID: signs each CSR for its entry, which must be one the agent is authorized for; the SPIFFE ID
 * and TTL come from the entry, never from the CSR. Item errors stay in their result.
 * @throws {InvalidArgumentError} when the batch holds more than MAX_X509_BATCH requests
 */
export async function signWorkloadX509SVIDs(d: AgentSigningDeps, agent: AuthenticatedAgent, params: readonly X509SVIDRequest[]): Promise<X509SVIDResult[]> {
  if (params.length > MAX_X509_BATCH) throw new InvalidArgumentError(`at most ${MAX_X509_BATCH} CSRs per batch`);
  const wanted = params.map((r) => r.entryID);
  const allowed = new Map((await d.hub.authorizedEntries(agent.id, agent.node.selectors, wanted)).map((e) => [e.id, e]));
  const results: X509SVIDResult[] = new Array(params.length);
  const toSign: { i: number; entry: RegistrationEntry; publicKeySPKI: Uint8Array }[] = [];
  await Promise.all(params.map(async (p, i) => {
    try {
      const entry = allowed.get(p.entryID);
      if (!entry) throw new NotFoundError("entry not found or not authorized");
      toSign.push({ i, entry, publicKeySPKI: await csrPublicKey(p.csr) });
    } catch (error) {
      results[i] = { error };
    }
  }));
  const issued = await d.ca.signX509SVIDs(toSign.map((t) => ({
    spiffeID: t.entry.spiffeID,
    publicKeySPKI: t.publicKeySPKI,
    ttl: t.entry.x509SVIDTTL,
    dnsNames: t.entry.dnsNames,
  })));
  issued.forEach((s, k) => {
    const { i, entry } = toSign[k]!;
    results[i] = { spiffeID: entry.spiffeID, svid: s };
    // SPIRE's per-SVID line (pkg/server/api/svid/v1 BatchNewX509SVID).
    d.log.debug("Signed X509 SVID", {
      [F.ENTRY_ID]: entry.id,
      [F.SPIFFE_ID]: entry.spiffeID,
      [F.EXPIRATION]: s.notAfter.toISOString(),
      serial_num: BigInt(`0x${s.serialHex}`).toString(),
      revision_number: entry.revisionNumber,
    });
  });
  d.log.debug("Signed X509 SVIDs", { [F.AGENT_ID]: agent.id, [F.COUNT]: issued.length });
  return results;
}

/**
 * SPIRE's NewJWTSVID for an entry the agent is authorized for.
 * @throws {FailedPreconditionError} "JWT functionality is disabled"; {InvalidArgumentError} "audience must be specified";
 *   {NotFoundError} "entry not found or not authorized"
 */
export async function signWorkloadJWTSVID(
  d: AgentSigningDeps,
  agent: AuthenticatedAgent,
  o: { entryID: string; audience: string[] },
): Promise<{ spiffeID: string; token: string; issuedAt: Date; expiresAt: Date }> {
  checkJWTEnabled(d);
  if (o.audience.length === 0) throw new InvalidArgumentError("audience must be specified");
  const entry = (await d.hub.authorizedEntries(agent.id, agent.node.selectors, [o.entryID])).find((e) => e.id === o.entryID);
  if (!entry) throw new NotFoundError("entry not found or not authorized");
  if (!d.jwt) throw new UnavailableError("JWT-SVIDs are not available");
  const svid = await d.jwt.sign({ spiffeID: entry.spiffeID, audience: o.audience, ttl: entry.jwtSVIDTTL });
  d.log.debug("Signed JWT SVID", { [F.AGENT_ID]: agent.id, [F.SPIFFE_ID]: entry.spiffeID, [F.EXPIRATION]: svid.expiresAt.toISOString() });
  return { spiffeID: entry.spiffeID, ...svid };
}
