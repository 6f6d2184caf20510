/**
 * The agent-facing RPCs of SPIRE's `spire.api.server.entry.v1.Entry` service: GetAuthorizedEntries and the
 * revision-diff SyncAuthorizedEntries (pkg/server/api/entry/v1/service.go). The authorized set is the HTTP agent
 * API's (SyncHub's entry crawl); revision numbers are the datastore's (bumped on every update).
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import { bidiOf, unaryOf } from "./descriptor_methods.ts";
import {
  Entry,
  EntryRevisionSchema,
  GetAuthorizedEntriesResponseSchema,
  type SyncAuthorizedEntriesRequest,
  SyncAuthorizedEntriesResponseSchema,
} from "../../agent/workload/proto/spire/api/server/entry/v1/entry_pb.ts";
import type { Entry as EntryPB } from "../../agent/workload/proto/spire/api/types/entry_pb.ts";
import type { SyncHub } from "../api/sync_hub.ts";
import { callerAgent } from "./authorize_methods.ts";
import { entryToProto } from "./proto_types.ts";

export interface EntrySyncServiceDeps {
  hub: SyncHub;
  /** Entries per SyncAuthorizedEntries message; SPIRE's is 500. */
  pageSize?: number;
}

export const SYNC_PAGE_SIZE = 500;

/** GetAuthorizedEntries and SyncAuthorizedEntries; wrap them with authorizeMethods (both need callerAgent). */
export function entrySyncService(d: EntrySyncServiceDeps): GRPCMethod[] {
  const pageSize = d.pageSize ?? SYNC_PAGE_SIZE;

  const get = unaryOf(
    Entry.method.getAuthorizedEntries,
    async (req, ctx) => {
      const agent = callerAgent(ctx);
      const entries = await d.hub.authorizedEntries(agent.id, agent.node.selectors);
      return create(GetAuthorizedEntriesResponseSchema, { entries: entries.map((e) => entryToProto(e, req.outputMask)) });
    },
  );

  const sync = bidiOf(
    Entry.method.syncAuthorizedEntries,
    async (requests, ctx, send) => {
      const agent = callerAgent(ctx);
      const it = requests[Symbol.asyncIterator]();
      const next = async (): Promise<SyncAuthorizedEntriesRequest | undefined> => {
        const r = await it.next();
        return r.done ? undefined : r.value;
      };
      const first = await next();
      if (first === undefined) return;
      if (first.ids.length > 0) throw new InvalidArgumentError("specifying IDs on initial request is not supported");
      // The agent decides what to refetch by revision, so the revision cannot be masked away.
      if (first.outputMask !== undefined && !first.outputMask.revisionNumber) throw new InvalidArgumentError("revision number cannot be masked");
      const entries = (await d.hub.authorizedEntries(agent.id, agent.node.selectors)).map((e) => entryToProto(e, first.outputMask));
      if (entries.length <= pageSize) {
        send(create(SyncAuthorizedEntriesResponseSchema, { entries }));
        return;
      }
      for (let i = 0; i < entries.length; i += pageSize) {
        const page = entries.slice(i, i + pageSize);
        send(create(SyncAuthorizedEntriesResponseSchema, {
          entryRevisions: page.map((e) => create(EntryRevisionSchema, { id: e.id, revisionNumber: e.revisionNumber, createdAt: e.createdAt })),
          more: i + pageSize < entries.length,
        }));
      }
      const byID = new Map<string, EntryPB>(entries.map((e) => [e.id, e]));
      // Each request for full entries is answered in pages before the next is read; unknown or unauthorized IDs are
      // skipped. The client's half-close (or cancel) ends the stream normally.
      for (let req = await next(); req !== undefined; req = await next()) {
        let page: EntryPB[] = [];
        for (const id of [...req.ids].sort()) {
          const e = byID.get(id);
          if (e === undefined) continue;
          if (page.length === pageSize) {
            send(create(SyncAuthorizedEntriesResponseSchema, { entries: page, more: true }));
            page = [];
          }
          page.push(e);
        }
        send(create(SyncAuthorizedEntriesResponseSchema, { entries: page, more: false }));
      }
    },
  );

  return [get, sync];
}
