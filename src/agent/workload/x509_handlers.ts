/** FetchX509SVID and FetchX509Bundles: full state first, then a new message on every change. @module */
import { create } from "@bufbuild/protobuf";
import { PermissionDeniedError } from "../../core/errors.ts";
import { concatDER } from "../../core/x509/pem.ts";
import type { CallContext } from "../../core/ports/grpc_server.ts";
import type { Selector } from "../../core/selector.ts";
import type { AgentManager } from "../manager/manager.ts";
import { type X509BundlesResponse, X509BundlesResponseSchema, type X509SVIDResponse } from "./proto/workload_pb.ts";
import { X509SVIDFanout } from "./x509_svid_fanout.ts";

/**
 * Keeps a stream open until the client goes away, calling `build` after every cache change; `build` returns
 * undefined to skip an unchanged message, or throws to end the stream with a status.
 */
export function watch<T>(manager: AgentManager, ctx: CallContext, send: (m: T) => void, build: () => T | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let unsubscribe = () => {};
    const finish = (err?: unknown) => {
      unsubscribe();
      ctx.signal.removeEventListener("abort", onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = () => finish();
    const push = () => {
      try {
        const m = build();
        if (m !== undefined) send(m);
      } catch (err) {
        finish(err);
      }
    };
    // The client may have left while it was being attested; "abort" will not fire again then.
    if (ctx.signal.aborted) return resolve();
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    unsubscribe = manager.subscribe(push);
    push();
  });
}

/**
 * Streams the caller's X509-SVIDs; `fanout` shares the work with the other streams of the same selectors. The stream
 * holds its entries' SVIDs in the agent's cache while it is open, and its first message waits for those beyond the
 * cache size to be minted.
 */
export function fetchX509SVID(
  manager: AgentManager,
  selectors: Selector[],
  ctx: CallContext,
  send: (m: X509SVIDResponse) => void,
  fanout: X509SVIDFanout = new X509SVIDFanout(manager),
): Promise<void> {
  return fanout.watch(selectors, ctx.signal, send);
}

/** Streams the X.509 bundle; callers with no identity get PermissionDenied unless `allowUnauthenticated` (SPIRE's verifiers option). */
export function fetchX509Bundles(
  manager: AgentManager,
  selectors: Selector[],
  ctx: CallContext,
  send: (m: X509BundlesResponse) => void,
  allowUnauthenticated = false,
): Promise<void> {
  let last = "";
  return watch(manager, ctx, send, () => {
    const entries = manager.entriesFor(selectors);
    if (!allowUnauthenticated && entries.length === 0) throw new PermissionDeniedError("no identity issued");
    const b = manager.bundle();
    const bytes = concatDER(b.roots);
    // SPIRE adds federated bundles only for a caller with an identity (their entries name them).
    const federated = manager.federatedBundlesFor(entries);
    const key = `${b.trustDomain}:${b.rootsVersion}#${manager.federatedVersion}#${federated.map((f) => f.trustDomain).join(",")}`;
    if (key === last) return undefined;
    last = key;
    return create(X509BundlesResponseSchema, {
      bundles: { [b.trustDomain]: bytes, ...Object.fromEntries(federated.map((f) => [f.trustDomain, concatDER(f.roots)])) },
    });
  });
}
