/** The admin API, served on the server's Unix socket and used by the CLI: entries, agents, tokens, bundle, config. @module */
import { bundleRoutes } from "./bundle_api.ts";
import { trustDomainRoutes } from "./trustdomain_api.ts";
import type { FederationRelationship } from "../datastore/datastore.ts";
import type { BundleRefresher } from "../federation/bundle_refresher.ts";
import { type Context, Hono } from "hono";
import { toBase64 } from "../../core/encoding.ts";
import { InvalidArgumentError, NotFoundError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import { parseSelector } from "../../core/selector.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { toSPIFFEBundle } from "../../core/bundle/spiffe_bundle.ts";
import type { CAManager } from "../ca/ca_manager.ts";
import type { DataStore, ListEntriesFilter } from "../datastore/datastore.ts";
import {
  type AgentFilterJSON,
  type AgentServiceDeps,
  banAgent,
  countAgents,
  createJoinToken,
  deleteAgent,
  filterFromRequest,
  getAgent,
  listAgents,
} from "./agent_service.ts";
import { entryToJSON, idFromJSON, newEntryFromJSON } from "./entry_json.ts";
import { errorHandler, statusOf } from "./errors.ts";
import { jsonBody, num } from "./json_body.ts";
import { managedConfigRoutes } from "./managed_config_routes.ts";
import type { SyncHub } from "./sync_hub.ts";
import { rpcRoutes } from "./rpc_routes.ts";
import type { ServerCA } from "../ca/server_ca.ts";
import type { JWTSVIDSigner } from "../ca/jwt_signer.ts";
import type { LogLevelControl } from "../../core/log/logger.ts";

export interface AdminAppConfig {
  ds: DataStore;
  caManager: CAManager;
  hub: SyncHub;
  clock: Clock;
  logger: Logger;
  trustDomain: spiffeid.TrustDomain;
  /** Reports readiness for `healthcheck`. */
  health: () => { live: boolean; ready: boolean; details: Record<string, unknown> };
  /** Called after a managed-config document was stored, so this server reads it at once. */
  onManagedConfig?: () => void;
  /** Signers for `x509 mint` / `jwt mint`. */
  ca?: ServerCA | undefined;
  jwt?: JWTSVIDSigner | undefined;
  /** The process log level, for `logger get|set|reset`. */
  logLevel?: LogLevelControl | undefined;
  /** Federated bundle refresher, for `federation refresh`. */
  refresher?: BundleRefresher | undefined;
  /** Federation relationships from the config file, listed beside the stored ones. */
  federatesWith?: FederationRelationship[] | undefined;
}

export function adminApp(cfg: AdminAppConfig): Hono {
  const app = new Hono();
  const log = cfg.logger.with({ subsystem_name: "admin_api" });
  app.onError(errorHandler(log));
  const td = cfg.trustDomain;

  app.get("/health", (c) => {
    const h = cfg.health();
    return c.json(h, h.ready ? 200 : 503);
  });

  app.post("/entry/v1/entries", async (c) => {
    const list = (await jsonBody(c)).entries;
    if (!Array.isArray(list) || list.length === 0) throw new InvalidArgumentError('"entries" must be a non-empty list');
    const results = [];
    for (const raw of list) {
      try {
        const e = await cfg.ds.createEntry(newEntryFromJSON(raw, td));
        log.info("Registration entry created", { [F.ENTRY_ID]: e.id, [F.SPIFFE_ID]: e.spiffeID, [F.PARENT_ID]: e.parentID });
        results.push({ status: { status: "OK" }, entry: entryToJSON(e) });
      } catch (err) {
        results.push({ status: statusOf(err) });
      }
    }
    void cfg.hub.notify();
    return c.json({ results });
  });

  app.get("/entry/v1/entries", async (c) => {
    const filter: ListEntriesFilter = {};
    const q = c.req.query();
    if (q.parentID) filter.parentID = idFromJSON(q.parentID, "parentID");
    if (q.spiffeID) filter.spiffeID = idFromJSON(q.spiffeID, "spiffeID");
    const sels = c.req.queries("selector") ?? [];
    if (sels.length > 0) filter.selectors = sels.map(parseSelector);
    const entries = await cfg.ds.listEntries(filter);
    return c.json({ entries: entries.map(entryToJSON) });
  });

  app.get("/entry/v1/entries/:id", async (c) => {
    const e = await cfg.ds.fetchEntry(c.req.param("id"));
    if (!e) throw new NotFoundError("entry not found");
    return c.json(entryToJSON(e));
  });

  app.delete("/entry/v1/entries/:id", async (c) => {
    const e = await cfg.ds.deleteEntry(c.req.param("id"));
    log.info("Registration entry deleted", { [F.ENTRY_ID]: e.id, [F.SPIFFE_ID]: e.spiffeID });
    void cfg.hub.notify();
    return c.json(entryToJSON(e));
  });

  const agents: AgentServiceDeps = { ds: cfg.ds, logger: log, trustDomain: td, disconnect: (id) => cfg.hub.disconnect(id) };
  /** The ListAgents/CountAgents filter from query parameters named as SPIRE's request fields; `selector` repeats. */
  const agentFilter = (c: Context) => {
    const q = c.req.query();
    const bool = (name: string) => {
      const v = q[name];
      if (v === undefined || v === "") return undefined;
      if (v === "true" || v === "false") return v === "true";
      throw new InvalidArgumentError(`${name} must be true or false`);
    };
    const f: AgentFilterJSON = {};
    if (q.by_attestation_type) f.by_attestation_type = q.by_attestation_type;
    const banned = bool("by_banned");
    if (banned !== undefined) f.by_banned = banned;
    const canReattest = bool("by_can_reattest");
    if (canReattest !== undefined) f.by_can_reattest = canReattest;
    if (q.by_expires_before) f.by_expires_before = q.by_expires_before;
    const selectors = c.req.queries("selector") ?? [];
    if (selectors.length > 0) f.by_selector_match = { selectors, match: q.match ?? "superset" };
    return filterFromRequest(f);
  };

  app.get("/agent/v1/agents", async (c) => c.json(await listAgents(agents, agentFilter(c))));
  app.get("/agent/v1/agents/count", async (c) => c.json(await countAgents(agents, agentFilter(c))));
  app.get("/agent/v1/agent", async (c) => c.json(await getAgent(agents, c.req.query("spiffeID") ?? "")));
  app.post("/agent/v1/agent/ban", async (c) => c.json(await banAgent(agents, c.req.query("spiffeID") ?? "")));
  // Evict: the agent may attest again, a banned one included.
  app.delete("/agent/v1/agents", async (c) => c.json(await deleteAgent(agents, c.req.query("spiffeID") ?? "")));

  app.post("/agent/v1/join_tokens", async (c) => {
    const body = await jsonBody(c);
    const ttl = num(body, "ttl", 600);
    if (body.token !== undefined && typeof body.token !== "string") throw new InvalidArgumentError('"token" must be a string');
    const agentID = typeof body.agent_id === "string" ? body.agent_id : undefined;
    return c.json(await createJoinToken({ ...agents, clock: cfg.clock, notify: () => void cfg.hub.notify() }, { ttl, token: body.token, agent_id: agentID }));
  });

  app.get("/bundle/v1/bundle", async (c) => {
    const b = await cfg.ds.fetchBundle(td.name);
    if (!b) throw new NotFoundError("bundle not found");
    const format = c.req.query("format") ?? "raw";
    if (format === "spiffe") return c.json(await toSPIFFEBundle(b));
    return c.json({
      trust_domain: b.trustDomain,
      x509_authorities: b.x509Authorities.map(toBase64),
      jwt_authorities: b.jwtKeys.map((k) => ({ key_id: k.kid, public_key: toBase64(k.publicKey), expires_at: k.notAfter })),
      sequence_number: b.sequence,
      refresh_hint: b.refreshHint,
    });
  });

  app.post("/ca/v1/rotate", async (c) => {
    await cfg.caManager.forceRotate();
    void cfg.hub.notify();
    const ca = cfg.caManager.currentX509CA();
    return c.json({ authority_id: ca.authorityID, expires_at: Math.floor(ca.notAfter.getTime() / 1000) });
  });

  bundleRoutes(app, { ds: cfg.ds, trustDomain: td, logger: cfg.logger, notify: () => void cfg.hub.notify(), refresher: cfg.refresher });
  trustDomainRoutes(app, { ds: cfg.ds, trustDomain: td, logger: cfg.logger, notify: () => void cfg.hub.notify(), configured: cfg.federatesWith });
  rpcRoutes(app, {
    ds: cfg.ds,
    trustDomain: td,
    caManager: cfg.caManager,
    clock: cfg.clock,
    logger: cfg.logger,
    notify: () => void cfg.hub.notify(),
    ca: cfg.ca,
    jwt: cfg.jwt,
    logLevel: cfg.logLevel,
  });
  managedConfigRoutes(app, { ds: cfg.ds, logger: log, ...(cfg.onManagedConfig ? { onStored: cfg.onManagedConfig } : {}) });
  return app;
}
