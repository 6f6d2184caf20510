/** Admin API routes for managed config (`wisp-server config set|get`): validate, store versioned, read back. @module */
import type { Hono } from "hono";
import { InvalidArgumentError, NotFoundError } from "../../core/errors.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { DataStore, ManagedConfig } from "../datastore/datastore.ts";
import { parseUpstreamAuthorityDoc, UPSTREAM_AUTHORITY_SECTION } from "../managedconfig/upstream_authority_doc.ts";
import { jsonBody } from "./json_body.ts";

/** The JSON every config route answers with. */
export interface ManagedConfigJSON {
  section: string;
  schema: string;
  version: number;
  /** Unix seconds. */
  updated_at: number;
  /** The document as stored (YAML). */
  document: string;
  /** The validated spec, defaults resolved (region from the ARN). */
  spec: unknown;
}

/** Parses a stored or submitted document of a section; only UpstreamAuthority exists so far. */
function validate(section: string, document: string) {
  if (section !== UPSTREAM_AUTHORITY_SECTION) throw new NotFoundError(`unknown managed config section "${section}"`);
  return parseUpstreamAuthorityDoc(document);
}

export function managedConfigToJSON(c: ManagedConfig): ManagedConfigJSON {
  const doc = validate(c.section, c.document);
  return { section: c.section, schema: doc.schema, version: c.version, updated_at: c.updatedAt, document: c.document, spec: doc.spec };
}

export function managedConfigRoutes(app: Hono, o: { ds: DataStore; logger: Logger; onStored?: () => void }): void {
  app.put("/config/v1/sections/:section", async (c) => {
    const section = c.req.param("section");
    const body = await jsonBody(c);
    if (typeof body.document !== "string" || body.document.trim() === "") throw new InvalidArgumentError(`"document" is required`);
    validate(section, body.document);
    const stored = await o.ds.setManagedConfig(section, body.document);
    o.logger.info("Managed config stored", { section, version: stored.version });
    o.onStored?.();
    return c.json(managedConfigToJSON(stored));
  });

  app.get("/config/v1/sections/:section", async (c) => {
    const section = c.req.param("section");
    if (section !== UPSTREAM_AUTHORITY_SECTION) throw new NotFoundError(`unknown managed config section "${section}"`);
    const stored = await o.ds.fetchManagedConfig(section);
    if (!stored) throw new NotFoundError(`no managed config is set for section "${section}"`);
    return c.json(managedConfigToJSON(stored));
  });
}
