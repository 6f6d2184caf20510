/**
 * SPIRE's LocalAuthority API (spire.api.server.localauthority.v1) as plain functions: show, prepare, activate, taint
 * and revoke X.509 and JWT authorities, and taint/revoke upstream authorities. Taint and revoke change the bundle,
 * which the sync hub pushes to every agent. Texts and checks are SPIRE's (pkg/server/api/localauthority/v1/service.go).
 * @module
 */
import { InternalError, InvalidArgumentError, ServiceError, UnavailableError } from "../../core/errors.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { TrustDomain } from "../../core/spiffeid/mod.ts";
import type { AuthorityState, AuthorityStates, CAManager } from "../ca/ca_manager.ts";
import type { DataStore } from "../datastore/datastore.ts";

export interface LocalAuthorityDeps {
  ca: CAManager;
  ds: DataStore;
  td: TrustDomain;
  logger: Logger;
  /** Pushes the changed bundle to agents. */
  notify: () => void;
}

/** SPIRE's MakeErr: an Internal error whose message is `<what>: <cause>`. */
function internal(what: string, err: unknown): ServiceError {
  return new InternalError(`${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

export function localAuthorityAPI(d: LocalAuthorityDeps) {
  const log = d.logger.with({ subsystem_name: "api" });
  const requireActive = (s: AuthorityStates) => {
    if (!s.active) throw new UnavailableError("server is initializing");
    return s;
  };
  return {
    getX509AuthorityState: (): AuthorityStates => requireActive(d.ca.x509AuthorityStates()),

    async prepareX509Authority(): Promise<{ prepared_authority: AuthorityState }> {
      let st: AuthorityState;
      try {
        st = await d.ca.prepareX509Authority();
      } catch (err) {
        if (err instanceof ServiceError && err.status === "UNAVAILABLE") throw err;
        throw internal("failed to prepare X.509 authority", err);
      }
      d.notify();
      return { prepared_authority: st };
    },

    async activateX509Authority(authorityID: string): Promise<{ activated_authority: AuthorityState }> {
      const st = await d.ca.activateX509Authority(authorityID);
      d.notify();
      return { activated_authority: st };
    },

    async taintX509Authority(authorityID: string): Promise<{ tainted_authority: AuthorityState }> {
      const st = d.ca.checkOldX509Authority(authorityID, "tainted");
      try {
        await d.ds.taintX509CA(d.td.name, authorityID);
      } catch (err) {
        throw internal("failed to taint X.509 authority", err);
      }
      d.notify();
      log.info("X.509 authority tainted successfully", { local_authority_id: authorityID });
      return { tainted_authority: st };
    },

    async revokeX509Authority(authorityID: string): Promise<{ revoked_authority: AuthorityState }> {
      d.ca.checkOldX509Authority(authorityID, "revoked");
      try {
        await d.ds.revokeX509CA(d.td.name, authorityID);
      } catch (err) {
        throw internal("failed to revoke X.509 authority", err);
      }
      d.notify();
      log.info("X.509 authority revoked successfully", { local_authority_id: authorityID });
      return { revoked_authority: { authority_id: authorityID, expires_at: 0, upstream_authority_subject_key_id: "" } };
    },

    async taintX509UpstreamAuthority(subjectKeyID: string): Promise<{ upstream_authority_subject_key_id: string }> {
      const ski = subjectKeyID.toLowerCase();
      d.ca.checkOldUpstreamAuthority(ski, "provided subject key id is not valid");
      try {
        await d.ds.taintX509CA(d.td.name, ski);
      } catch (err) {
        throw internal("failed to taint upstream authority", err);
      }
      d.notify();
      log.info("X.509 upstream authority tainted successfully", { subject_key_id: ski });
      return { upstream_authority_subject_key_id: ski };
    },

    async revokeX509UpstreamAuthority(subjectKeyID: string): Promise<{ upstream_authority_subject_key_id: string }> {
      const ski = subjectKeyID.toLowerCase();
      d.ca.checkOldUpstreamAuthority(ski, "invalid subject key ID");
      try {
        await d.ds.revokeX509CA(d.td.name, ski);
      } catch (err) {
        throw internal("failed to revoke X.509 upstream authority", err);
      }
      d.notify();
      log.info("X.509 upstream authority successfully revoked", { subject_key_id: ski });
      return { upstream_authority_subject_key_id: ski };
    },

    getJWTAuthorityState: (): AuthorityStates => requireActive(d.ca.jwtAuthorityStates()),

    async prepareJWTAuthority(): Promise<{ prepared_authority: AuthorityState }> {
      let st: AuthorityState;
      try {
        st = await d.ca.prepareJWTAuthority();
      } catch (err) {
        if (err instanceof ServiceError && err.status === "UNAVAILABLE") throw err;
        throw internal("failed to prepare JWT authority", err);
      }
      d.notify();
      return { prepared_authority: st };
    },

    async activateJWTAuthority(authorityID: string): Promise<{ activated_authority: AuthorityState }> {
      const st = await d.ca.activateJWTAuthority(authorityID);
      d.notify();
      return { activated_authority: st };
    },

    async taintJWTAuthority(authorityID: string): Promise<{ tainted_authority: AuthorityState }> {
      d.ca.checkTaintJWTAuthority(authorityID);
      try {
        await d.ds.taintJWTKey(d.td.name, authorityID);
      } catch (err) {
        throw internal("failed to taint JWT authority", err);
      }
      d.notify();
      log.info("JWT authority tainted successfully", { local_authority_id: authorityID });
      return { tainted_authority: { authority_id: authorityID, expires_at: 0, upstream_authority_subject_key_id: "" } };
    },

    async revokeJWTAuthority(authorityID: string): Promise<{ revoked_authority: AuthorityState }> {
      if (!d.ca.checkRevokeJWTAuthority(authorityID)) {
        const b = await d.ds.fetchBundle(d.td.name);
        if (!b?.jwtKeys.some((k) => k.kid === authorityID)) {
          throw new InvalidArgumentError("invalid authority ID: no JWT authority found with provided authority ID");
        }
      }
      try {
        await d.ds.revokeJWTKey(d.td.name, authorityID);
      } catch (err) {
        throw internal("failed to revoke JWT authority", err);
      }
      d.notify();
      log.info("JWT authority revoked successfully", { local_authority_id: authorityID });
      return { revoked_authority: { authority_id: authorityID, expires_at: 0, upstream_authority_subject_key_id: "" } };
    },
  };
}

export type LocalAuthorityAPI = ReturnType<typeof localAuthorityAPI>;
