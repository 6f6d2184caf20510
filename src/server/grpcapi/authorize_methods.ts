/**
 * SPIRE's authorization middleware (pkg/server/api/middleware/authorization_opa.go) around any gRPC methods: each call
 * is let in by the method's policy, in SPIRE's order of cost (any → local → admin_ids → the caller's admin or
 * downstream entries → agent), or refused with PermissionDenied "authorization denied for method <full method>",
 * carrying the agent authorizer's PermissionDeniedDetails when that is what refused it.
 * @module
 */
import { PermissionDeniedError, ServiceError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { CallContext, GRPCMethod } from "../../core/ports/grpc_server.ts";
import { parseCertificate } from "../../core/x509/mod.ts";
import type { DataStore, RegistrationEntry } from "../datastore/datastore.ts";
import { type AuthenticatedAgent, authorizeAgent } from "../api/agent_auth.ts";
import { AUTH_POLICY, type MethodPolicy } from "./auth_policy.ts";

export interface AuthorizeDeps {
  ds: DataStore;
  /** `admin_ids`. */
  adminIDs: readonly string[];
  logger: Logger;
  /** Default: AUTH_POLICY. */
  policy?: Readonly<Record<string, MethodPolicy>>;
}

/** How the caller got in, for handlers that act on its behalf. */
export type Authorization =
  | { as: "any" | "local" | "admin" }
  | { as: "downstream"; entries: RegistrationEntry[] }
  | { as: "agent"; agent: AuthenticatedAgent };

const authorizations = new WeakMap<CallContext, Authorization>();

/** How this call was authorized; only for calls of methods wrapped by authorizeMethods. */
export function authorizationOf(ctx: CallContext): Authorization {
  const a = authorizations.get(ctx);
  if (a === undefined) throw new TypeError("call was not authorized by authorizeMethods");
  return a;
}

/**
 * The calling agent, authorized by SPIRE's AgentAuthorizer for this call.
 * @throws {TypeError} when the call did not come in as an agent (a method whose policy is not agent-only)
 */
export function callerAgent(ctx: CallContext): AuthenticatedAgent {
  const a = authorizationOf(ctx);
  if (a.as !== "agent") throw new TypeError("caller is not an agent");
  return a.agent;
}

/** Decides one call; resolves with how the caller got in. @throws {PermissionDeniedError} and datastore errors */
export async function authorizeCall(d: AuthorizeDeps, fullMethod: string, ctx: CallContext): Promise<Authorization> {
  const p = (d.policy ?? AUTH_POLICY)[fullMethod] ?? {};
  if (p.any) return { as: "any" };
  const local = ctx.caller === undefined;
  if (p.local && local) return { as: "local" };
  // An expired certificate would have failed SPIRE's handshake: it names nobody but an agent due to re-attest.
  const id = ctx.caller?.expired ? undefined : ctx.caller?.id;
  if (p.admin && id !== undefined && d.adminIDs.includes(id)) return { as: "admin" };
  if ((p.admin || p.downstream) && id !== undefined) {
    const entries = await d.ds.listEntries({ spiffeID: id });
    if (p.admin && entries.some((e) => e.admin)) return { as: "admin" };
    const downstream = entries.filter((e) => e.downstream);
    if (p.downstream && downstream.length > 0) return { as: "downstream", entries: downstream };
  }
  let reason: string | undefined;
  if (p.agent && !local) {
    try {
      return { as: "agent", agent: await agentOf(d, ctx) };
    } catch (err) {
      if (!(err instanceof ServiceError) || err.status !== "PERMISSION_DENIED") throw err;
      reason = err.reason;
    }
  }
  throw new PermissionDeniedError(`authorization denied for method ${fullMethod}`, reason === undefined ? undefined : { reason });
}

async function agentOf(d: AuthorizeDeps, ctx: CallContext): Promise<AuthenticatedAgent> {
  const c = ctx.caller;
  if (!c?.chain || c.chain.length === 0 || c.id === undefined) throw new PermissionDeniedError("caller does not have an X509-SVID");
  const serialHex = parseCertificate(c.chain[0]!).serialHex;
  return await authorizeAgent({ ds: d.ds, logger: d.logger }, { id: c.id, serialHex, expired: c.expired === true });
}

/**
 * Wraps every method so that a call reaches its handler only once authorizeCall let it in.
 * @throws {TypeError} when two methods share a path (grpc-js would silently keep only the first)
 */
export function authorizeMethods(methods: readonly GRPCMethod[], d: AuthorizeDeps): GRPCMethod[] {
  const paths = new Set<string>();
  for (const m of methods) {
    if (paths.has(m.path)) throw new TypeError(`method "${m.path}" is given twice`);
    paths.add(m.path);
  }
  const log = d.logger.with({ subsystem_name: "api" });
  const check = async (path: string, ctx: CallContext) => {
    try {
      authorizations.set(ctx, await authorizeCall({ ...d, logger: log }, path, ctx));
    } catch (err) {
      log.error("Failed to authenticate caller", {
        [F.METHOD]: path,
        ...(ctx.caller?.id ? { [F.CALLER_ID]: ctx.caller.id } : {}),
        ...(ctx.caller ? { [F.CALLER_ADDR]: ctx.caller.address } : {}),
        [F.ERROR]: err instanceof Error ? err.message : String(err),
      });
      throw err;
    }
  };
  return methods.map((m): GRPCMethod => {
    switch (m.kind) {
      case "unary":
        return { ...m, handle: async (req: unknown, ctx: CallContext) => (await check(m.path, ctx), await m.handle(req, ctx)) };
      case "server_stream":
        return {
          ...m,
          handle: async (req: unknown, ctx: CallContext, send: (msg: unknown) => void) => (await check(m.path, ctx), await m.handle(req, ctx, send)),
        };
      case "bidi_stream":
        return {
          ...m,
          handle: async (reqs: AsyncIterable<unknown>, ctx: CallContext, send: (msg: unknown) => void) => (
            await check(m.path, ctx), await m.handle(reqs, ctx, send)
          ),
        };
    }
  });
}
