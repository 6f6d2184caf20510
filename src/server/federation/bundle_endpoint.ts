/**
 * The bundle endpoint (SPIFFE Federation §4): `GET /` answers this trust domain's bundle as a SPIFFE bundle document,
 * as SPIRE's pkg/server/endpoints/bundle/server.go does.
 * @module
 */
import { Hono } from "hono";
import { toSPIFFEBundle } from "../../core/bundle/spiffe_bundle.ts";
import { formatError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { DataStore } from "../datastore/datastore.ts";

/** The document SPIRE serves: 4-space indent, `spiffe_sequence` and `spiffe_refresh_hint` omitted when 0. */
export async function bundleDocument(
  b: { trustDomain: string; x509Authorities: Uint8Array[]; jwtKeys: { kid: string; publicKey: Uint8Array; notAfter: number }[]; sequence: number },
  refreshHintSeconds: number,
): Promise<string> {
  const doc = await toSPIFFEBundle({ ...b, refreshHint: refreshHintSeconds });
  const out: Record<string, unknown> = { keys: doc.keys };
  if (doc.spiffe_sequence) out["spiffe_sequence"] = doc.spiffe_sequence;
  if (doc.spiffe_refresh_hint) out["spiffe_refresh_hint"] = doc.spiffe_refresh_hint;
  return JSON.stringify(out, null, 4);
}

export function bundleEndpointApp(cfg: { ds: DataStore; trustDomain: string; refreshHintSeconds: number; logger: Logger }): Hono {
  const app = new Hono();
  app.all("/", async (c) => {
    if (c.req.method !== "GET") return c.text("method not allowed\n", 405);
    try {
      const b = await cfg.ds.fetchBundle(cfg.trustDomain);
      if (!b) throw new Error("no bundle for the local trust domain");
      return c.body(await bundleDocument(b, cfg.refreshHintSeconds), 200, { "content-type": "application/json" });
    } catch (err) {
      cfg.logger.error("Unable to retrieve local bundle", { [F.ERROR]: formatError(err) });
      return c.text("unable to retrieve local bundle\n", 500);
    }
  });
  app.all("*", (c) => c.text("404 page not found\n", 404));
  return app;
}
