/**
 * The agent API (HTTPS, agents authenticate with their agent SVID): attestation, renewal, batch SVID
 * signing, the bundle, and the push stream of entries and bundle updates.
 * @module
 */
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { fromBase64, toBase64 } from "../../core/encoding.ts";
import { formatError, InvalidArgumentError, NotFoundError, ServiceError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type * as spiffeid from "../../core/spiffeid/mod.ts";
import { toSPIFFEBundle } from "../../core/bundle/spiffe_bundle.ts";
import type { JWTSVIDSigner } from "../ca/jwt_signer.ts";
import type { ServerCA } from "../ca/server_ca.ts";
import type { DataStore } from "../datastore/datastore.ts";
import type { ServerNodeAttestor } from "../nodeattestor/node_attestor.ts";
import { authenticateAgent } from "./agent_auth.ts";
import { VerifiedChains } from "./verified_chains.ts";
import {
  type AgentSigningDeps,
  attestAgent,
  checkJWTEnabled,
  checkRenewable,
  csrPublicKey,
  MAX_X509_BATCH,
  renewAgent,
  signWorkloadJWTSVID,
  signWorkloadX509SVIDs,
  type X509SVIDRequest,
} from "./agent_signing.ts";
import { AttestSessions, type AttestStep } from "./attest_sessions.ts";
import { errorHandler, statusOf } from "./errors.ts";
import { jsonBody, str } from "./json_body.ts";
import type { SyncHub, SyncResume } from "./sync_hub.ts";
import type { Registry } from "../../core/metrics/registry.ts";

export interface AgentAppConfig {
  ds: DataStore;
  ca: ServerCA;
  /** Absent: the JWT-SVID route answers "JWT-SVIDs are not available". */
  jwt?: JWTSVIDSigner;
  /** `disable_jwt_svids`: every JWT-SVID request fails with SPIRE's "JWT functionality is disabled". */
  jwtDisabled?: boolean;
  hub: SyncHub;
  clock: Clock;
  logger: Logger;
  trustDomain: spiffeid.TrustDomain;
  /** Agent SVID TTL, seconds. */
  agentTTL: number;
  /** SSE keep-alive interval, ms. */
  keepAliveMs?: number;
  /** Node attestors by attestation data type; join_token is always among them. */
  nodeAttestors: ReadonlyMap<string, ServerNodeAttestor>;
  /** How long a challenge waits for the agent's response, ms. Default 30 s. */
  attestSessionTimeoutMs?: number;
  /** Counts attestations by result in `wisp_server_node_attestations_total` (the console's activity chart). */
  metrics?: Registry | undefined;
}

/** What the runtime's HTTPS adapter passes in: the client's certificate chain, leaf first (DER). */
export interface AgentAppEnv {
  Bindings: { peerCertChain?: Uint8Array[]; remoteAddress?: string };
}

/** A base64 CSR of a request body, as DER. @throws {InvalidArgumentError} ERR_CSR_INVALID */
function csrDER(b64: string): Uint8Array {
  try {
    return fromBase64(b64);
  } catch (cause) {
    throw new InvalidArgumentError("malformed CSR", { cause, code: "ERR_CSR_INVALID" });
  }
}

/** A base64 field of the request body. @throws {InvalidArgumentError} */
function bytes(o: Record<string, unknown>, key: string): Uint8Array {
  const v = o[key];
  if (typeof v !== "string") throw new InvalidArgumentError(`"${key}" must be a base64 string`);
  try {
    return fromBase64(v);
  } catch (cause) {
    throw new InvalidArgumentError(`"${key}" is not valid base64`, { cause });
  }
}

/** "::ffff:10.0.0.1" → "10.0.0.1", as Go reports IPv4 peers. */
function unmapIPv4(addr: string | undefined): string | undefined {
  return addr?.startsWith("::ffff:") && addr.includes(".") ? addr.slice(7) : addr;
}

const svidJSON = (id: string, s: { chain: Uint8Array[]; notAfter: Date }) => ({
  id,
  cert_chain: s.chain.map(toBase64),
  expires_at: Math.floor(s.notAfter.getTime() / 1000),
});

/**
 * The reconnect parameters of /agent/v1/sync: `since` (the cursor of the last message applied), `digest` (of the
 * agent's entry set), `bundle_sequence` and `federated` (`<trust domain>:<bundle digest>` pairs, comma-separated, of
 * the federated bundles it holds). @throws {InvalidArgumentError}
 */
function syncResume(q: (name: string) => string | undefined): SyncResume {
  const int = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    if (!/^\d{1,15}$/.test(v)) throw new InvalidArgumentError(`"${name}" must be a non-negative integer`);
    return Number(v);
  };
  const digest = q("digest");
  if (digest !== undefined && !/^[0-9a-f]{16}$/.test(digest)) throw new InvalidArgumentError('"digest" must be 16 lowercase hex digits');
  const federated = new Map<string, string>();
  for (const pair of q("federated")?.split(",").filter((p) => p !== "") ?? []) {
    const m = /^([a-z0-9._-]{1,255}):([0-9a-f]{16})$/.exec(pair);
    if (!m) throw new InvalidArgumentError(`"federated" must be <trust domain>:<16 hex digits> pairs, got "${pair.slice(0, 300)}"`);
    federated.set(m[1]!, m[2]!);
  }
  return { since: int(q("since"), "since"), digest, bundleSequence: int(q("bundle_sequence"), "bundle_sequence"), federated };
}

export function agentApp(cfg: AgentAppConfig): Hono<AgentAppEnv> {
  const app = new Hono<AgentAppEnv>();
  const log = cfg.logger.with({ subsystem_name: "agent_api" });
  app.onError(errorHandler(log));
  // Each agent's chain is verified once per bundle sequence, not on every call.
  const verified = new VerifiedChains();
  const auth = (chain: Uint8Array[] | undefined) => authenticateAgent({ ...cfg, logger: log, verified }, chain);

  interface Attested {
    svid: { id: string; cert_chain: string[]; expires_at: number };
    reattestable: boolean;
  }
  const signing: AgentSigningDeps = { ...cfg, log };
  const sessions = new AttestSessions<Attested>({ clock: cfg.clock, ...(cfg.attestSessionTimeoutMs ? { timeoutMs: cfg.attestSessionTimeoutMs } : {}) });

  async function attest(
    attestor: ServerNodeAttestor,
    payload: Uint8Array,
    publicKey: Uint8Array,
    clientIP: string | undefined,
    challenge: (c: Uint8Array) => Promise<Uint8Array>,
  ): Promise<Attested> {
    const out = await attestAgent(signing, { attestor, payload, publicKey, clientIP, challenge });
    return { svid: svidJSON(out.agentID, out.svid), reattestable: out.reattestable };
  }

  const answer = (step: AttestStep<Attested>) => step.kind === "challenge" ? { challenge: toBase64(step.challenge), session_id: step.sessionID } : step.result;

  // SPIRE logs the failure with its message capitalised (pkg/server/api/agent/v1/service.go).
  const logFailure = (type: string | undefined, err: unknown) => {
    if (err instanceof ServiceError && err.code !== "ERR_ATTEST_SESSION") {
      log.error(err.message.charAt(0).toUpperCase() + err.message.slice(1), type ? { node_attestor_type: type } : {});
    }
  };

  /**
   * SPIRE's AttestAgent stream as round trips: {attestation_data, csr} starts one, {session_id, challenge_response}
   * continues it; each answer is the next {challenge, session_id} or the result {svid, reattestable}.
   */
  app.post("/agent/v1/attest", async (c) => {
    const body = await jsonBody(c);
    const clientIP = unmapIPv4(c.env?.remoteAddress);
    if (body.session_id !== undefined) {
      const sessionID = str(body, "session_id");
      const response = bytes(body, "challenge_response");
      try {
        return c.json(answer(await sessions.respond(sessionID, response)));
      } catch (err) {
        logFailure(undefined, err);
        throw err;
      }
    }
    const data = (body.attestation_data ?? {}) as Record<string, unknown>;
    const type = str(data, "type");
    const attestor = cfg.nodeAttestors.get(type);
    if (!attestor) throw new InvalidArgumentError(`failed to attest: could not find node attestor type "${type}"`);
    const payload = bytes(data, "payload");
    const publicKey = await csrPublicKey(csrDER(str(body, "csr")));
    try {
      return c.json(answer(await sessions.start((challenge) => attest(attestor, payload, publicKey, clientIP, challenge))));
    } catch (err) {
      logFailure(type, err);
      throw err;
    }
  });

  app.post("/agent/v1/renew", async (c) => {
    const agent = await auth(c.env?.peerCertChain);
    checkRenewable(agent);
    const svid = await renewAgent(signing, agent, csrDER(str(await jsonBody(c), "csr")));
    return c.json({ svid: svidJSON(agent.id, svid) });
  });

  app.post("/svid/v1/batch", async (c) => {
    const agent = await auth(c.env?.peerCertChain);
    const params = (await jsonBody(c)).params;
    if (!Array.isArray(params)) throw new InvalidArgumentError('"params" must be a list');
    if (params.length > MAX_X509_BATCH) throw new InvalidArgumentError(`at most ${MAX_X509_BATCH} CSRs per batch`);
    // Items that do not parse keep their own error, as the ones the signer refuses.
    const results: unknown[] = new Array(params.length);
    const requests: X509SVIDRequest[] = [];
    const at: number[] = [];
    params.forEach((p: unknown, i: number) => {
      try {
        const o = (p ?? {}) as Record<string, unknown>;
        const entryID = str(o, "entry_id");
        requests.push({ entryID, csr: csrDER(str(o, "csr")) });
        at.push(i);
      } catch (err) {
        results[i] = { status: statusOf(err) };
      }
    });
    const signed = await signWorkloadX509SVIDs(signing, agent, requests);
    signed.forEach((r, k) => {
      results[at[k]!] = "error" in r ? { status: statusOf(r.error) } : { status: { status: "OK", code: "", message: "" }, svid: svidJSON(r.spiffeID, r.svid) };
    });
    return c.json({ results });
  });

  app.post("/svid/v1/jwt", async (c) => {
    const agent = await auth(c.env?.peerCertChain);
    checkJWTEnabled(signing);
    const body = await jsonBody(c);
    const entryID = str(body, "entry_id");
    const audience = body.audience ?? [];
    if (!Array.isArray(audience) || audience.some((a) => typeof a !== "string")) throw new InvalidArgumentError('"audience" must be a list of strings');
    const svid = await signWorkloadJWTSVID(signing, agent, { entryID, audience: audience as string[] });
    return c.json({
      svid: {
        id: svid.spiffeID,
        token: svid.token,
        expires_at: Math.floor(svid.expiresAt.getTime() / 1000),
        issued_at: Math.floor(svid.issuedAt.getTime() / 1000),
      },
    });
  });

  app.get("/bundle/v1/bundle", async (c) => {
    const b = await cfg.ds.fetchBundle(cfg.trustDomain.name);
    if (!b) throw new NotFoundError("bundle not found");
    return c.json(await toSPIFFEBundle(b));
  });

  app.get("/agent/v1/sync", async (c) => {
    const agent = await auth(c.env?.peerCertChain);
    const resume = syncResume((name) => c.req.query(name));
    return streamSSE(c, async (stream) => {
      let id = 0;
      let end = () => {};
      const done = new Promise<void>((resolve) => {
        end = resolve;
        stream.onAbort(resolve);
      });
      let unsubscribe = () => {};
      try {
        unsubscribe = await cfg.hub.subscribe(
          agent.id,
          (event, data) => {
            void stream.writeSSE({ event, id: String(++id), data });
          },
          () => end(),
          resume,
        );
      } catch (err) {
        // The agent reconnects with backoff; an open stream that never gets its first message would hide the outage.
        log.warn("Failed to start agent sync stream", { [F.AGENT_ID]: agent.id, [F.ERROR]: formatError(err) });
        return;
      }
      log.debug("Agent sync stream opened", { [F.AGENT_ID]: agent.id, incremental: resume.since !== undefined });
      const keepAlive = setInterval(() => void stream.write(": keep-alive\n\n"), cfg.keepAliveMs ?? 15_000);
      await done;
      clearInterval(keepAlive);
      unsubscribe();
      log.debug("Agent sync stream closed", { [F.AGENT_ID]: agent.id });
    });
  });

  return app;
}
