/** The ServerConnector port on undici: mTLS with the agent SVID, server checked by its SPIFFE ID. @module */
import { Agent, fetch as undiciFetch } from "undici";
import type { PeerCertificate } from "node:tls";
import type { ServerConnector } from "../../core/ports/server_connector.ts";
import { toPEM } from "../../core/x509/pem.ts";

/** Node's hostname check cannot apply: SVIDs carry a SPIFFE ID URI SAN, so we compare that instead. */
function checkSPIFFEID(expected: string) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    const uris = (cert.subjectaltname ?? "").split(", ").filter((s) => s.startsWith("URI:")).map((s) => s.slice(4));
    return uris.length === 1 && uris[0] === expected ? undefined : new Error(`server certificate is not for "${expected}"`);
  };
}

export const nodeServerConnector: ServerConnector = {
  connect(o) {
    const insecure = o.roots === "insecure";
    const dispatcher = new Agent({
      connect: {
        ...(insecure ? { rejectUnauthorized: false } : {
          ca: (o.roots as Uint8Array[]).map((r) => toPEM(r, "CERTIFICATE")),
          rejectUnauthorized: true,
          checkServerIdentity: checkSPIFFEID(o.serverID),
        }),
        ...(o.client
          ? { cert: o.client.chainDER.map((d) => toPEM(d, "CERTIFICATE")).join(""), key: toPEM(o.client.keyPKCS8, "PRIVATE KEY") }
          : {}),
      },
      // The sync stream is long-lived; keep-alive comments arrive every 15 s.
      bodyTimeout: 0,
      headersTimeout: 30_000,
    });
    const host = o.address.includes(":") ? `[${o.address}]` : o.address;
    const base = `https://${host}:${o.port}`;
    return {
      fetch: (path, init) => undiciFetch(base + path, { ...(init as object), dispatcher }) as unknown as Promise<Response>,
      close: () => dispatcher.close(),
    };
  },
};
