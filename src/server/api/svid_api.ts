/**
 * SPIRE's SVID API for admins (spire.api.server.svid.v1 MintX509SVID, MintJWTSVID): SVIDs for any workload of the
 * trust domain signed by the server's CA, without an agent (`x509 mint`, `jwt mint`). Texts are SPIRE's
 * (pkg/server/api/svid/v1/service.go).
 * @module
 */
import { fromBase64, toBase64 } from "../../core/encoding.ts";
import { InternalError, InvalidArgumentError, ServiceError } from "../../core/errors.ts";
import type { Logger } from "../../core/log/logger.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { parseAndVerifyCSR } from "../../core/x509/csr.ts";
import type { JWTSVIDSigner } from "../ca/jwt_signer.ts";
import type { ServerCA } from "../ca/server_ca.ts";
import type { SPIFFEIDJSON } from "./entry_json.ts";

export interface SVIDAPIDeps {
  ca: ServerCA;
  jwt: JWTSVIDSigner;
  td: spiffeid.TrustDomain;
  logger: Logger;
}

const invalid = (m: string, cause?: unknown) => new InvalidArgumentError(m, cause === undefined ? undefined : { cause: cause });
const withCause = (m: string, err: unknown) => `${m}: ${err instanceof Error ? err.message : String(err)}`;

function workloadID(td: spiffeid.TrustDomain, id: spiffeid.ID): void {
  if (!id.memberOf(td)) throw new Error(`"${id}" is not a member of trust domain "${td.name}"`);
  if (id.path === "") throw new Error(`"${id}" is not a workload in trust domain "${td.name}"; path is empty`);
  if (id.path.startsWith("/spire/")) throw new Error(`"${id}" is not a workload in trust domain "${td.name}"; path is in the reserved namespace`);
}

export function svidAPI(d: SVIDAPIDeps) {
  const log = d.logger.with({ subsystem_name: "api" });
  return {
    /** MintX509SVID: `csr` is base64 DER with exactly one URI SAN; `ttl` seconds (0: default). */
    async mintX509SVID(req: { csr?: string; ttl?: number }): Promise<{ svid: { id: SPIFFEIDJSON; cert_chain: string[]; expires_at: number } }> {
      if (!req.csr) throw invalid("missing CSR");
      let csr;
      try {
        csr = await parseAndVerifyCSR(fromBase64(req.csr));
      } catch (err) {
        throw invalid(withCause("malformed CSR", err), err);
      }
      if (csr.uris.length === 0) throw invalid("CSR URI SAN is required");
      if (csr.uris.length > 1) throw invalid("only one URI SAN is expected");
      let id: spiffeid.ID;
      try {
        id = spiffeid.fromString(csr.uris[0]!);
        workloadID(d.td, id);
      } catch (err) {
        throw invalid(withCause("CSR URI SAN is invalid", err), err);
      }
      try {
        const svid = await d.ca.signX509SVID({ spiffeID: id.toString(), publicKeySPKI: csr.publicKeySPKI, ttl: req.ttl ?? 0, dnsNames: csr.dnsNames });
        log.debug("Signed X509 SVID", { spiffe_id: id.toString(), serial_num: svid.serialHex, expiration: svid.notAfter.toISOString() });
        return {
          svid: {
            id: { trust_domain: id.trustDomain.name, path: id.path },
            cert_chain: svid.chain.map(toBase64),
            expires_at: Math.floor(svid.notAfter.getTime() / 1000),
          },
        };
      } catch (err) {
        if (err instanceof InvalidArgumentError) throw err;
        throw new InternalError(withCause("failed to sign X509-SVID", err), { cause: err });
      }
    },

    /** MintJWTSVID. */
    async mintJWTSVID(
      req: { id?: SPIFFEIDJSON; audience?: string[]; ttl?: number },
    ): Promise<{ svid: { token: string; id: SPIFFEIDJSON; expires_at: number; issued_at: number } }> {
      let id: spiffeid.ID;
      try {
        if (!req.id) throw new Error("request must specify SPIFFE ID");
        id = spiffeid.ID.fromPath(spiffeid.trustDomainFromString(req.id.trust_domain), req.id.path ?? "");
        workloadID(d.td, id);
      } catch (err) {
        throw invalid(withCause("invalid SPIFFE ID", err), err);
      }
      if (!req.audience || req.audience.length === 0) throw invalid("at least one audience is required");
      try {
        const s = await d.jwt.sign({ spiffeID: id.toString(), audience: req.audience, ttl: req.ttl ?? 0 });
        return {
          svid: {
            token: s.token,
            id: { trust_domain: id.trustDomain.name, path: id.path },
            expires_at: Math.floor(s.expiresAt.getTime() / 1000),
            issued_at: Math.floor(s.issuedAt.getTime() / 1000),
          },
        };
      } catch (err) {
        if (err instanceof ServiceError && err.status === "INVALID_ARGUMENT") throw err;
        throw new InternalError(withCause("failed to sign JWT-SVID", err), { cause: err });
      }
    },
  };
}
