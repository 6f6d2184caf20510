/** What the console reads from the running server: a narrow, read-only view built by server.ts. @module */
import type { Clock } from "../../core/ports/clock.ts";
import type { TrustDomain } from "../../core/spiffeid/mod.ts";
import type { Selector } from "../../core/selector.ts";
import type { CAHealth, CAView } from "../ca/ca_manager.ts";
import type { DataStore, RegistrationEntry } from "../datastore/datastore.ts";
import type { MinuteSeries } from "./minute_series.ts";

export interface ConsoleSource {
  trustDomain: TrustDomain;
  version: string;
  startedAt: Date;
  clock: Clock;
  ds: DataStore;
  /** X.509 CA and JWT key lifetime, ms (for planned rotation times). */
  caTTL: number;
  caView(): CAView;
  caHealth(): CAHealth;
  datastoreHealth(): { ok: boolean; lastError?: string; since?: Date };
  /** Agents with an open sync stream, with their last push. */
  connectedAgents(): Map<string, Date | undefined>;
  /** The entries an agent receives (parent links and node aliases), as the sync hub computes them. */
  authorizedEntries(agentID: string, nodeSelectors: readonly Selector[]): Promise<RegistrationEntry[]>;
  /** Upstream MintX509CA calls by upstream name and result, from the metrics registry. */
  upstreamCalls(): { upstream: string; ok: number; error: number }[];
  activity: {
    svids: MinuteSeries;
    syncPushes: MinuteSeries;
    attestOK: MinuteSeries;
    attestFailed: MinuteSeries;
  };
}
