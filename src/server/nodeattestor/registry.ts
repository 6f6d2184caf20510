/**
 * The server's node attestors by name. Adding a plugin takes one config reader (NODE_ATTESTOR_READERS in
 * server/config.ts), one class implementing ServerNodeAttestor, and one line here (or, for plugins that need the AWS
 * SDK, one line in bin/server_plugins.ts, whose factories are merged over these).
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { FS } from "../../core/ports/fs.ts";
import type * as spiffeid from "../../core/spiffeid/mod.ts";
import { fromPEM } from "../../core/x509/mod.ts";
import type { NodeAttestorConfig } from "../config.ts";
import type { DataStore } from "../datastore/datastore.ts";
import { JoinTokenAttestor } from "./join_token.ts";
import type { ServerNodeAttestor } from "./node_attestor.ts";
import { X509PoPAttestor } from "./x509pop/x509pop.ts";

/** What a node attestor may use. */
export interface NodeAttestorDeps {
  ds: DataStore;
  fs: FS;
  clock: Clock;
  logger: Logger;
  trustDomain: spiffeid.TrustDomain;
}

/** Builds one attestor from its validated config; `cfg.name` selects the factory. */
export type NodeAttestorFactory<C extends NodeAttestorConfig = NodeAttestorConfig> = (cfg: C, deps: NodeAttestorDeps) => Promise<ServerNodeAttestor>;

/** One factory per plugin name. */
export type NodeAttestorFactories = { [N in NodeAttestorConfig["name"]]?: NodeAttestorFactory<Extract<NodeAttestorConfig, { name: N }>> };

/** The attestors portable code can build; bin/server_plugins.ts adds the ones that need the AWS SDK. */
export const PORTABLE_NODE_ATTESTORS: NodeAttestorFactories = {
  join_token: async (_cfg, d) => new JoinTokenAttestor(d),
  x509pop: async (cfg, d) => {
    const external = await Promise.all(cfg.caBundlePaths.map(async (p) => {
      try {
        const roots = fromPEM(new TextDecoder().decode(await d.fs.readFile(p)), "CERTIFICATE");
        if (roots.length === 0) throw new Error("no certificates found");
        return roots;
      } catch (cause) {
        throw new InvalidArgumentError(`x509pop: unable to load trust bundle "${p}": ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
      }
    }));
    const roots = cfg.mode === "spiffe" ? async () => (await d.ds.fetchBundle(d.trustDomain.name))?.x509Authorities ?? [] : async () => external.flat();
    return new X509PoPAttestor({ config: cfg, trustDomain: d.trustDomain, clock: d.clock, roots });
  },
};

/**
 * Builds every configured attestor, keyed by name (which is also the attestation data type).
 * @throws {InvalidArgumentError} when a configured plugin has no factory in this build, or a factory fails
 */
export async function buildNodeAttestors(
  configs: readonly NodeAttestorConfig[],
  factories: NodeAttestorFactories,
  deps: NodeAttestorDeps,
): Promise<Map<string, ServerNodeAttestor>> {
  const out = new Map<string, ServerNodeAttestor>();
  for (const cfg of configs) {
    const factory = factories[cfg.name] as NodeAttestorFactory | undefined;
    if (!factory) throw new InvalidArgumentError(`NodeAttestor "${cfg.name}" is not supported by this build`);
    out.set(cfg.name, await factory(cfg, deps));
  }
  return out;
}
