/** The server's own X509-SVID (spiffe://<td>/spire/server), used as its TLS certificate on the agent API. @module */
import { exportPKCS8, generateKeyPair } from "../core/crypto/ec_p256.ts";
import type { TLSCredentials } from "../core/ports/http_server.ts";
import * as spiffeid from "../core/spiffeid/mod.ts";
import { toPEM } from "../core/x509/mod.ts";
import type { ServerCA } from "./ca/server_ca.ts";

export interface ServerSVID {
  credentials: TLSCredentials;
  notAfter: Date;
  issuedAt: Date;
}

export async function issueServerSVID(ca: ServerCA, td: spiffeid.TrustDomain, now: Date, ttlSeconds: number): Promise<ServerSVID> {
  const pair = await generateKeyPair(true);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  const svid = await ca.signX509SVID({ spiffeID: spiffeid.serverID(td).toString(), publicKeySPKI: spki, ttl: ttlSeconds });
  return {
    credentials: {
      certChainPEM: svid.chain.map((d) => toPEM(d, "CERTIFICATE")).join(""),
      keyPEM: toPEM(await exportPKCS8(pair.privateKey), "PRIVATE KEY"),
    },
    notAfter: svid.notAfter,
    issuedAt: now,
  };
}
