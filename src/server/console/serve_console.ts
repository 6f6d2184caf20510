/**
 * Starts the console's listener: plain HTTP on a loopback address; HTTPS asking for a client certificate (checked
 * against `admin_ids` by the app) on any other, with the server SVID as its certificate.
 * @module
 */
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import { hostPort } from "../../core/metrics/serve_prometheus.ts";
import type { HTTPServe, HTTPServerHandle, TLSCredentials, TLSServerHandle } from "../../core/ports/http_server.ts";
import { consoleApp } from "./console_app.ts";
import { isLoopbackAddress } from "./console_access.ts";
import type { ConsoleSource } from "./console_source.ts";

export interface ConsoleListener {
  handle: HTTPServerHandle;
  /** Set when the listener is HTTPS, so the server SVID's rotation reaches it. */
  tls?: TLSServerHandle;
  url: string;
}

export async function serveConsole(o: {
  http: HTTPServe;
  source: ConsoleSource;
  logger: Logger;
  bindAddress: string;
  bindPort: number;
  adminIDs: readonly string[];
  credentials: TLSCredentials;
  changePollMs?: number | undefined;
}): Promise<ConsoleListener> {
  const app = consoleApp({
    source: o.source, logger: o.logger, bindAddress: o.bindAddress, adminIDs: o.adminIDs,
    ...(o.changePollMs === undefined ? {} : { changePollMs: o.changePollMs }),
  });
  const log = o.logger.with({ subsystem_name: "console" });
  if (isLoopbackAddress(o.bindAddress)) {
    const handle = await o.http.http({ hostname: o.bindAddress, port: o.bindPort, fetch: (req, env) => app.fetch(req, env) });
    const url = `http://${hostPort(o.bindAddress, handle.port)}/`;
    log.info("Starting console", { [F.ADDRESS]: hostPort(o.bindAddress, handle.port), url, access: "loopback" });
    return { handle, url };
  }
  if (o.adminIDs.length === 0) log.warn("Console is not on a loopback address and admin_ids is empty: every request will be refused");
  const tls = await o.http.https({ hostname: o.bindAddress, port: o.bindPort, fetch: (req, env) => app.fetch(req, env), credentials: o.credentials });
  const url = `https://${hostPort(o.bindAddress, tls.port)}/`;
  log.info("Starting console", { [F.ADDRESS]: hostPort(o.bindAddress, tls.port), url, access: "mTLS admin_ids" });
  return { handle: tls, tls, url };
}
