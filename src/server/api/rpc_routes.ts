/**
 * SPIRE's server API methods on the admin socket, one POST route per RPC (`/<service>/<Method>`, bodies in SPIRE's
 * protobuf JSON names): Entry, SVID (mint), LocalAuthority, Logger, for JSON clients. The handlers are the plain
 * functions of entry_api.ts, svid_api.ts, localauthority_api.ts and logger_api.ts, which SPIRE's gRPC API on the same
 * socket (src/server/grpcapi) calls too.
 * @module
 */
import type { Context, Hono } from "hono";
import { UnavailableError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger, LogLevelControl } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type * as spiffeid from "../../core/spiffeid/mod.ts";
import type { CAManager } from "../ca/ca_manager.ts";
import type { JWTSVIDSigner } from "../ca/jwt_signer.ts";
import type { ServerCA } from "../ca/server_ca.ts";
import type { DataStore } from "../datastore/datastore.ts";
import { batchCreateEntry, batchDeleteEntry, batchUpdateEntry, type EntryFilter, type EntryInput, filterEntries, getEntry } from "./entry_api.ts";
import { entryToJSON } from "./entry_json.ts";
import { jsonBody } from "./json_body.ts";
import { localAuthorityAPI } from "./localauthority_api.ts";
import { loggerAPI } from "./logger_api.ts";
import { svidAPI } from "./svid_api.ts";

export interface RPCRoutesConfig {
  ds: DataStore;
  trustDomain: spiffeid.TrustDomain;
  caManager: CAManager;
  clock: Clock;
  logger: Logger;
  /** Pushes entry and bundle changes to agents. */
  notify: () => void;
  /** Signers for `x509 mint` / `jwt mint`; absent: those RPCs answer Unavailable. */
  ca?: ServerCA | undefined;
  jwt?: JWTSVIDSigner | undefined;
  /** The process log level; absent: the Logger RPCs answer Unavailable. */
  logLevel?: LogLevelControl | undefined;
}

const list = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);

export function rpcRoutes(app: Hono, cfg: RPCRoutesConfig): void {
  const { ds, trustDomain: td } = cfg;
  const log = cfg.logger.with({ subsystem_name: "api" });
  const la = localAuthorityAPI({ ca: cfg.caManager, ds, td, logger: cfg.logger, notify: cfg.notify });

  app.post("/entry.v1.Entry/BatchCreateEntry", async (c) => {
    const results = await batchCreateEntry(ds, td, list<EntryInput>((await jsonBody(c)).entries));
    for (const r of results) if (r.status.code === 0) log.info("Registration entry created", { [F.ENTRY_ID]: r.entry!.id });
    cfg.notify();
    return c.json({ results });
  });
  app.post("/entry.v1.Entry/BatchUpdateEntry", async (c) => {
    const results = await batchUpdateEntry(ds, td, list<EntryInput>((await jsonBody(c)).entries));
    for (const r of results) if (r.status.code === 0) log.info("Registration entry updated", { [F.ENTRY_ID]: r.entry!.id });
    cfg.notify();
    return c.json({ results });
  });
  app.post("/entry.v1.Entry/BatchDeleteEntry", async (c) => {
    const results = await batchDeleteEntry(ds, list<string>((await jsonBody(c)).ids));
    for (const r of results) if (r.status.code === 0) log.info("Registration entry deleted", { [F.ENTRY_ID]: r.id });
    cfg.notify();
    return c.json({ results });
  });
  app.post("/entry.v1.Entry/ListEntries", async (c) => {
    const entries = await filterEntries(ds, (await jsonBody(c)).filter as EntryFilter | undefined);
    return c.json({ entries: entries.map(entryToJSON), next_page_token: "" });
  });
  app.post("/entry.v1.Entry/CountEntries", async (c) => {
    const entries = await filterEntries(ds, (await jsonBody(c)).filter as EntryFilter | undefined);
    return c.json({ count: entries.length });
  });
  app.post("/entry.v1.Entry/GetEntry", async (c) => c.json(await getEntry(ds, String((await jsonBody(c)).id ?? ""))));

  const svid = () => {
    if (!cfg.ca || !cfg.jwt) throw new UnavailableError("SVID minting is not available on this server");
    return svidAPI({ ca: cfg.ca, jwt: cfg.jwt, td, logger: cfg.logger });
  };
  app.post("/svid.v1.SVID/MintX509SVID", async (c) => c.json(await svid().mintX509SVID(await jsonBody(c) as { csr?: string; ttl?: number })));
  app.post(
    "/svid.v1.SVID/MintJWTSVID",
    async (c) => c.json(await svid().mintJWTSVID(await jsonBody(c) as Parameters<ReturnType<typeof svidAPI>["mintJWTSVID"]>[0])),
  );

  const authorityID = async (c: Context) => String((await jsonBody(c)).authority_id ?? "");
  const ski = async (c: Context) => String((await jsonBody(c)).subject_key_id ?? "");
  const L = "/localauthority.v1.LocalAuthority";
  app.post(`${L}/GetX509AuthorityState`, (c) => c.json(la.getX509AuthorityState()));
  app.post(`${L}/PrepareX509Authority`, async (c) => c.json(await la.prepareX509Authority()));
  app.post(`${L}/ActivateX509Authority`, async (c) => c.json(await la.activateX509Authority(await authorityID(c))));
  app.post(`${L}/TaintX509Authority`, async (c) => c.json(await la.taintX509Authority(await authorityID(c))));
  app.post(`${L}/RevokeX509Authority`, async (c) => c.json(await la.revokeX509Authority(await authorityID(c))));
  app.post(`${L}/TaintX509UpstreamAuthority`, async (c) => c.json(await la.taintX509UpstreamAuthority(await ski(c))));
  app.post(`${L}/RevokeX509UpstreamAuthority`, async (c) => c.json(await la.revokeX509UpstreamAuthority(await ski(c))));
  app.post(`${L}/GetJWTAuthorityState`, (c) => c.json(la.getJWTAuthorityState()));
  app.post(`${L}/PrepareJWTAuthority`, async (c) => c.json(await la.prepareJWTAuthority()));
  app.post(`${L}/ActivateJWTAuthority`, async (c) => c.json(await la.activateJWTAuthority(await authorityID(c))));
  app.post(`${L}/TaintJWTAuthority`, async (c) => c.json(await la.taintJWTAuthority(await authorityID(c))));
  app.post(`${L}/RevokeJWTAuthority`, async (c) => c.json(await la.revokeJWTAuthority(await authorityID(c))));

  const logger = () => {
    if (!cfg.logLevel) throw new UnavailableError("the log level of this server cannot be changed");
    return loggerAPI(cfg.logLevel, cfg.logger);
  };
  app.post("/logger.v1.Logger/GetLogger", (c) => c.json(logger().getLogger()));
  app.post("/logger.v1.Logger/SetLogLevel", async (c) => c.json(logger().setLogLevel((await jsonBody(c)).new_level as string | undefined)));
  app.post("/logger.v1.Logger/ResetLogLevel", (c) => c.json(logger().resetLogLevel()));
}
