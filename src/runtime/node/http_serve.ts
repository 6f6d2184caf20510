/** The HTTPServe port on node:https / node:http through @hono/node-server's request listener. @module */
import * as http from "node:http";
import { constants as cryptoConstants } from "node:crypto";
import * as https from "node:https";
import * as net from "node:net";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import type { TLSSocket } from "node:tls";
import { getRequestListener } from "@hono/node-server";
import { FailedPreconditionError, UnavailableError } from "../../core/errors.ts";
import type { FetchHandler, HTTPServe, HTTPServerHandle, TLSCredentials, TLSServerHandle } from "../../core/ports/http_server.ts";

/** The client's chain as DER, leaf first, from a TLS socket (empty when it sent none). */
export function peerChain(sock: TLSSocket): Uint8Array[] {
  const out: Uint8Array[] = [];
  let cert = sock.getPeerCertificate(true);
  const seen = new Set<string>();
  while (cert && cert.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    out.push(new Uint8Array(cert.raw));
    if (!cert.issuerCertificate || cert.issuerCertificate === cert) break;
    cert = cert.issuerCertificate;
  }
  return out;
}

function listen(server: net.Server, ...args: unknown[]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(...(args as [number, string]), () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function closer(server: net.Server): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      (server as http.Server).closeAllConnections?.();
    });
}

/** True when something accepts connections on the socket, i.e. it is not a stale file from a crash. */
function socketInUse(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(p);
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
}

export const nodeHTTPServe: HTTPServe = {
  async https(o: { hostname: string; port: number; fetch: FetchHandler; credentials: TLSCredentials }): Promise<TLSServerHandle> {
    const listener = getRequestListener((req, env) => {
      const sock = (env as { incoming: http.IncomingMessage }).incoming.socket as TLSSocket;
      return o.fetch(req, { peerCertChain: peerChain(sock), remoteAddress: sock.remoteAddress });
    });
    // Client certificates are requested but checked by the app against the live bundle, which rotates.
    // No session tickets: a resumed session exposes only the client's leaf, not the intermediates the app needs
    // to verify an upstream-signed agent SVID.
    const noResume = { secureOptions: cryptoConstants.SSL_OP_NO_TICKET };
    const server = https.createServer(
      { cert: o.credentials.certChainPEM, key: o.credentials.keyPEM, requestCert: true, rejectUnauthorized: false, minVersion: "TLSv1.2", ...noResume },
      listener,
    );
    server.keepAliveTimeout = 65_000;
    try {
      await listen(server, o.port, o.hostname);
    } catch (cause) {
      throw new UnavailableError(`failed to listen on ${o.hostname}:${o.port}`, { cause });
    }
    return {
      port: (server.address() as net.AddressInfo).port,
      close: closer(server),
      setCredentials: (c) => server.setSecureContext({ cert: c.certChainPEM, key: c.keyPEM, minVersion: "TLSv1.2", ...noResume }),
    };
  },

  async unix(o: { socketPath: string; mode: number; fetch: FetchHandler }): Promise<HTTPServerHandle> {
    await fsp.mkdir(path.dirname(o.socketPath), { recursive: true });
    if (await socketInUse(o.socketPath)) {
      throw new FailedPreconditionError(`socket "${o.socketPath}" is in use by another process`);
    }
    await fsp.rm(o.socketPath, { force: true });
    const server = http.createServer(getRequestListener((req) => o.fetch(req, {})));
    try {
      await listen(server, o.socketPath);
    } catch (cause) {
      throw new UnavailableError(`failed to listen on socket "${o.socketPath}"`, { cause });
    }
    await fsp.chmod(o.socketPath, o.mode);
    const close = closer(server);
    return {
      port: 0,
      close: async () => {
        await close();
        await fsp.rm(o.socketPath, { force: true });
      },
    };
  },

  async http(o: { hostname: string; port: number; fetch: FetchHandler }): Promise<HTTPServerHandle> {
    const server = http.createServer(getRequestListener((req) => o.fetch(req, {})));
    try {
      await listen(server, o.port, o.hostname);
    } catch (cause) {
      throw new UnavailableError(`failed to listen on ${o.hostname}:${o.port}`, { cause });
    }
    return { port: (server.address() as net.AddressInfo).port, close: closer(server) };
  },
};
