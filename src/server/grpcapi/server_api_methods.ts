/**
 * Builds every method of SPIRE's server API that wisp serves to operators and their tools, from the server's parts.
 * serverAPIMethods are the RPCs SPIRE serves on both listeners (the TCP port registers them behind its authorization
 * check); localOnlyMethods are those SPIRE serves only on the admin socket (Debug, Logger, Health);
 * adminSocketMethods is what the admin socket serves, with the agent-facing RPCs answered as SPIRE does to a local
 * caller.
 * @module
 */
import type { Logger, LogLevelControl } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { GRPCMethod } from "../../core/ports/grpc_server.ts";
import type * as spiffeid from "../../core/spiffeid/mod.ts";
import type { CAManager } from "../ca/ca_manager.ts";
import type { JWTSVIDSigner } from "../ca/jwt_signer.ts";
import type { ServerCA } from "../ca/server_ca.ts";
import type { DataStore, FederationRelationship } from "../datastore/datastore.ts";
import type { BundleRefresher } from "../federation/bundle_refresher.ts";
import { bundleAPI } from "../api/bundle_api.ts";
import { localAuthorityAPI } from "../api/localauthority_api.ts";
import { svidAPI } from "../api/svid_api.ts";
import { trustDomainAPI } from "../api/trustdomain_api.ts";
import { agentMethods } from "./agent_methods.ts";
import { bundleMethods } from "./bundle_methods.ts";
import { debugMethods } from "./debug_methods.ts";
import { entryMethods } from "./entry_methods.ts";
import { healthMethods } from "./health_methods.ts";
import { localAuthorityMethods } from "./localauthority_methods.ts";
import { localDeniedMethods } from "./local_denied_methods.ts";
import { loggerMethods } from "./logger_methods.ts";
import { svidMethods } from "./svid_methods.ts";
import { trustDomainMethods } from "./trustdomain_methods.ts";

export interface ServerAPIDeps {
  ds: DataStore;
  trustDomain: spiffeid.TrustDomain;
  caManager: CAManager;
  clock: Clock;
  logger: Logger;
  /** Pushes entry and bundle changes to agents. */
  notify: () => void;
  /** Ends a banned or deleted agent's open sync streams on this server. */
  disconnect: (agentID: string) => void;
  /** Signers for MintX509SVID / MintJWTSVID; absent: those answer Unavailable. */
  ca?: ServerCA | undefined;
  jwt?: JWTSVIDSigner | undefined;
  /** The process log level; absent: the Logger RPCs answer Unavailable. */
  logLevel?: LogLevelControl | undefined;
  /** Federated bundle refresher, for RefreshBundle. */
  refresher?: BundleRefresher | undefined;
  /** Federation relationships from the config file, listed beside the stored ones. */
  federatesWith?: FederationRelationship[] | undefined;
  /** For Debug/GetInfo. */
  startedAt: Date;
  serverSVIDChain: () => Uint8Array[];
}

/** Agent, Bundle, Entry, SVID, TrustDomain and LocalAuthority: SPIRE serves them on the TCP port and the admin socket. */
export function serverAPIMethods(d: ServerAPIDeps): GRPCMethod[] {
  const { ds, trustDomain, logger, notify } = d;
  const bundles = bundleAPI({ ds, trustDomain, logger, notify, refresher: d.refresher });
  return [
    ...agentMethods({ ds, trustDomain, logger, clock: d.clock, notify, disconnect: d.disconnect }),
    ...bundleMethods({ api: bundles, logger }),
    ...entryMethods({ ds, trustDomain, logger, notify }),
    ...svidMethods({ api: d.ca && d.jwt ? svidAPI({ ca: d.ca, jwt: d.jwt, td: trustDomain, logger }) : undefined, logger }),
    ...trustDomainMethods({ api: trustDomainAPI({ ds, trustDomain, logger, notify, configured: d.federatesWith }), bundles, logger }),
    ...localAuthorityMethods({ api: localAuthorityAPI({ ca: d.caManager, ds, td: trustDomain, logger, notify }), logger }),
  ];
}

/** Debug, Logger and Health: SPIRE serves them on the admin socket only. */
export function localOnlyMethods(d: ServerAPIDeps): GRPCMethod[] {
  return [
    ...debugMethods({ ds: d.ds, trustDomain: d.trustDomain, clock: d.clock, logger: d.logger, startedAt: d.startedAt, serverSVIDChain: d.serverSVIDChain }),
    ...loggerMethods({ logLevel: d.logLevel, logger: d.logger }),
    ...healthMethods({ ds: d.ds, trustDomain: d.trustDomain, logger: d.logger }),
  ];
}

/** Everything the admin socket serves. */
export function adminSocketMethods(d: ServerAPIDeps): GRPCMethod[] {
  return [...serverAPIMethods(d), ...localOnlyMethods(d), ...localDeniedMethods({ logger: d.logger })];
}
