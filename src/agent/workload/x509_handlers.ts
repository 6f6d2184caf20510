/** FetchX509SVID and FetchX509Bundles: full state first, then a new message on every change. @module */
import { create } from "@bufbuild/protobuf";
import { formatError, PermissionDeniedError, UnavailableError } from "../../core/errors.ts";
import { concatDER } from "../../core/x509/pem.ts";
import type { CallContext } from "../../core/ports/grpc_server.ts";
import type { Selector } from "../../core/selector.ts";
import type { AgentManager } from "../manager/manager.ts";
import type { FederatedBundle, Identity } from "../manager/svid_cache.ts";
import type { SharedResponses } from "./shared_responses.ts";
import { type X509BundlesResponse, X509BundlesResponseSchema, type X509SVIDResponse, X509SVIDResponseSchema, X509SVIDSchema } from "./proto/workload_pb.ts";

export function x509SVIDResponse(ids: Identity[], roots: Uint8Array[], federated: FederatedBundle[] = []): X509SVIDResponse {
  const bundle = concatDER(roots);
  return create(X509SVIDResponseSchema, {
    federatedBundles: Object.fromEntries(federated.map((f) => [f.trustDomain, concatDER(f.roots)])),
    svids: ids.map((i) =>
      create(X509SVIDSchema, {
        spiffeId: i.entry.spiffeID,
        x509Svid: concatDER(i.svid.chain),
        x509SvidKey: i.svid.keyPKCS8,
        bundle,
        hint: i.entry.hint,
      })
    ),
  });
}

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
 * The stream holds its entries' SVIDs in the agent's cache for as long as it is open (never evicted), and the first
 * message waits for those beyond the cache size to be minted. `shared`: streams with the same selectors share one
 * message per change.
 */
export async function fetchX509SVID(
  manager: AgentManager,
  selectors: Selector[],
  ctx: CallContext,
  send: (m: X509SVIDResponse) => void,
  shared?: SharedResponses<X509SVIDResponse>,
): Promise<void> {
  let last = "";
  const release = manager.hold(selectors);
  const slot = shared?.join(selectors);
  try {
    if (manager.entriesFor(selectors).length === 0) throw new PermissionDeniedError("no identity issued");
    try {
      await manager.ensure(selectors);
    } catch (cause) {
      throw new UnavailableError(`could not fetch X509-SVID: ${formatError(cause)}`, { cause });
    }
    await watch(manager, ctx, send, () => x509Message());
  } finally {
    slot?.release();
    release();
  }

  function x509Message(): X509SVIDResponse | undefined {
    if (manager.entriesFor(selectors).length === 0) throw new PermissionDeniedError("no identity issued");
    const ids = manager.identities(selectors);
    // An entry that just arrived is being minted (the stream holds it): its message follows.
    if (ids.length === 0) return undefined;
    // SPIRE sends every cache update; skipping byte-identical ones only drops true no-ops.
    const key = ids.map((i) => `${i.entry.id}:${i.entry.revisionNumber}:${i.svid.issuedAt.getTime()}:${i.svid.notAfter.getTime()}:${i.svid.chain.length}`)
      .join("|") +
      `#${manager.bundle().rootsVersion}#${manager.federatedVersion}`;
    if (key === last) return undefined;
    last = key;
    const build = () => x509SVIDResponse(ids, manager.bundle().roots, manager.federatedBundlesFor(ids.map((i) => i.entry)));
    return slot ? slot.get(key, build) : build();
  }
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
