/**
 * FetchJWTSVID, FetchJWTBundles and ValidateJWTSVID, with SPIRE's checks, order and messages
 * (pkg/agent/endpoints/workload/handler.go).
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { JsonObject } from "@bufbuild/protobuf";
import { toJWKS } from "../../core/bundle/spiffe_bundle.ts";
import { formatError, InvalidArgumentError, PermissionDeniedError, UnavailableError } from "../../core/errors.ts";
import { JWTKeyStore, validateJWTSVID as validateToken } from "../../core/jwtsvid/mod.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { CallContext } from "../../core/ports/grpc_server.ts";
import type { Selector } from "../../core/selector.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { watchSerial } from "./watch_serial.ts";
import type { AgentManager } from "../manager/manager.ts";
import {
  type JWTBundlesResponse,
  JWTBundlesResponseSchema,
  type JWTSVIDRequest,
  type JWTSVIDResponse,
  JWTSVIDResponseSchema,
  JWTSVIDSchema,
  type ValidateJWTSVIDRequest,
  type ValidateJWTSVIDResponse,
  ValidateJWTSVIDResponseSchema,
} from "./proto/workload_pb.ts";

/** Checks SPIRE makes before attesting the caller. @throws {InvalidArgumentError} */
export function checkJWTSVIDRequest(req: JWTSVIDRequest): void {
  if (req.audience.length === 0) throw new InvalidArgumentError("audience must be specified");
  if (req.spiffeId !== "") {
    try {
      spiffeid.fromString(req.spiffeId);
    } catch (cause) {
      throw new InvalidArgumentError(`invalid requested SPIFFE ID: ${(cause as Error).message}`, { cause });
    }
  }
}

/** One JWT-SVID per identity of the caller, or only the requested one. @throws {PermissionDeniedError} "no identity issued" */
export async function fetchJWTSVID(manager: AgentManager, selectors: Selector[], req: JWTSVIDRequest, log: Logger): Promise<JWTSVIDResponse> {
  // JWT-SVIDs need the entry, not a cached X509-SVID.
  const ids = manager.entriesFor(selectors).filter((e) => req.spiffeId === "" || e.spiffeID === req.spiffeId).map((entry) => ({ entry }));
  if (ids.length === 0) throw new PermissionDeniedError("no identity issued");
  const svids = await Promise.all(ids.map(async (i) => {
    try {
      const s = await manager.fetchJWTSVID(i.entry, req.audience);
      return create(JWTSVIDSchema, { spiffeId: i.entry.spiffeID, svid: s.token, hint: i.entry.hint });
    } catch (err) {
      log.error("Could not fetch JWT-SVID", { [F.SPIFFE_ID]: i.entry.spiffeID, [F.ERROR]: formatError(err) });
      throw new UnavailableError(`could not fetch JWT-SVID: ${formatError(err)}`, { cause: err });
    }
  }));
  return create(JWTSVIDResponseSchema, { svids });
}

/** The JWT bundles message: trust domain ID → standard JWKS JSON (no `use`, JWT keys only). */
export async function jwtBundlesResponse(manager: AgentManager, selectors: Selector[] = []): Promise<JWTBundlesResponse> {
  const b = manager.bundle();
  const enc = async (td: string, jwtKeys: typeof b.jwtKeys) =>
    new TextEncoder().encode(JSON.stringify(await toJWKS({ trustDomain: td, x509Authorities: [], jwtKeys, sequence: 0, refreshHint: 0 })));
  const bundles: Record<string, Uint8Array> = { [b.trustDomain]: await enc(b.trustDomain, b.jwtKeys) };
  // Federated JWT keys only for a caller whose entries federate with their trust domain, as SPIRE.
  for (const f of manager.federatedBundles(selectors)) bundles[f.trustDomain] = await enc(f.trustDomain, f.jwtKeys);
  return create(JWTBundlesResponseSchema, { bundles });
}

/**
 * Streams JWT bundles: the current set first, then a message whenever the key set changes (SPIRE skips equal
 * messages). Ends with PermissionDenied when the caller has, or comes to have, no identity, unless
 * `allowUnauthenticated` (SPIRE's allow_unauthenticated_verifiers).
 */
export function fetchJWTBundles(
  manager: AgentManager,
  selectors: Selector[],
  ctx: CallContext,
  send: (m: JWTBundlesResponse) => void,
  allowUnauthenticated = false,
): Promise<void> {
  let last = "";
  return watchSerial(manager, ctx, async () => {
    if (!allowUnauthenticated && manager.entriesFor(selectors).length === 0) throw new PermissionDeniedError("no identity issued");
    const m = await jwtBundlesResponse(manager, selectors);
    const key = Object.entries(m.bundles).map(([td, v]) => `${td}=${new TextDecoder().decode(v)}`).join("\n");
    if (key === last) return;
    last = key;
    send(m);
  });
}

/** @throws {InvalidArgumentError} "audience must be specified" / "svid must be specified" */
export function checkValidateRequest(req: ValidateJWTSVIDRequest): void {
  if (req.audience === "") throw new InvalidArgumentError("audience must be specified");
  if (req.svid === "") throw new InvalidArgumentError("svid must be specified");
}

/** Validates against the caller's bundles; a token that fails is InvalidArgument with the reason. */
export async function validateJWTSVID(
  manager: AgentManager,
  req: ValidateJWTSVIDRequest,
  now: Date,
  log: Logger,
  selectors: Selector[] = [],
): Promise<ValidateJWTSVIDResponse> {
  const b = manager.bundle();
  // Tokens from federated trust domains validate against the keys the caller's entries federate with.
  const store = await JWTKeyStore.fromBundles([
    { trustDomain: b.trustDomain, jwtKeys: b.jwtKeys },
    ...manager.federatedBundles(selectors).map((f) => ({ trustDomain: f.trustDomain, jwtKeys: f.jwtKeys })),
  ]);
  let v: Awaited<ReturnType<typeof validateToken>>;
  try {
    v = await validateToken(req.svid, store, [req.audience], now);
  } catch (err) {
    log.warn("Failed to validate JWT", { audience: req.audience, [F.ERROR]: formatError(err) });
    throw err instanceof InvalidArgumentError ? err : new InvalidArgumentError(formatError(err), { cause: err });
  }
  log.debug("Successfully validated JWT", { [F.SPIFFE_ID]: v.spiffeID.toString() });
  // SPIRE has always answered `aud` as a list, even when the token carries a single string.
  const claims = { ...v.claims, ...(typeof v.claims.aud === "string" ? { aud: [v.claims.aud] } : {}) } as JsonObject;
  return create(ValidateJWTSVIDResponseSchema, { spiffeId: v.spiffeID.toString(), claims });
}
