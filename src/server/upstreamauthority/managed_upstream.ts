/**
 * The upstream authority chosen by managed config: polls the datastore for the "UpstreamAuthority" document, builds
 * the aws_pca plugin it names, and hands it to the CA manager at the next prepare. Without a document the server.conf
 * upstream (or self-signed) stays in force.
 * @module
 */
import { formatError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { DataStore } from "../datastore/datastore.ts";
import { type ManagedAWSPCA, parseUpstreamAuthorityDoc, UPSTREAM_AUTHORITY_SECTION } from "../managedconfig/upstream_authority_doc.ts";
import type { UpstreamAuthority } from "./upstream_authority.ts";

/** Builds the aws_pca plugin for a managed document (src/bin supplies it: it needs the AWS SDK). */
export type AWSPCAFactory = (cfg: ManagedAWSPCA, logger: Logger) => Promise<UpstreamAuthority>;

export interface ManagedUpstreamConfig {
  ds: DataStore;
  /** The UpstreamAuthority of server.conf, used while no managed document exists. */
  configured?: UpstreamAuthority | undefined;
  /** Absent: a managed document cannot be applied by this build (logged, the configured upstream stays). */
  build?: AWSPCAFactory | undefined;
  /** Applied to every upstream handed out (metrics). */
  wrap?: (u: UpstreamAuthority) => UpstreamAuthority;
  logger: Logger;
}

export class ManagedUpstream {
  #cfg: ManagedUpstreamConfig;
  #log: Logger;
  #seen = 0;
  #managed: UpstreamAuthority | undefined;
  #configured: UpstreamAuthority | undefined;
  #version = 0;
  #busy: Promise<void> | undefined;

  constructor(cfg: ManagedUpstreamConfig) {
    this.#cfg = cfg;
    this.#log = cfg.logger.with({ subsystem_name: "managed_config" });
    this.#configured = cfg.configured && cfg.wrap ? cfg.wrap(cfg.configured) : cfg.configured;
  }

  /** Version of the managed document in force (0: none). */
  get version(): number {
    return this.#version;
  }

  /** Reads the datastore once; a new document version is validated and built, a broken one is logged and skipped. */
  refresh(): Promise<void> {
    this.#busy ??= this.#refresh().finally(() => (this.#busy = undefined));
    return this.#busy;
  }

  /** The upstream for the next CA: refreshed first, so a `config set` on any server counts at once. */
  async current(): Promise<UpstreamAuthority | undefined> {
    await this.refresh();
    return this.#managed ?? this.#configured;
  }

  async #refresh(): Promise<void> {
    let row;
    try {
      row = await this.#cfg.ds.fetchManagedConfig(UPSTREAM_AUTHORITY_SECTION);
    } catch (err) {
      this.#log.warn("Failed to read managed config", { [F.ERROR]: formatError(err) });
      return;
    }
    if (!row || row.version === this.#seen) return;
    this.#seen = row.version;
    try {
      const doc = parseUpstreamAuthorityDoc(row.document, `${UPSTREAM_AUTHORITY_SECTION} version ${row.version}`);
      const pca = doc.spec.extensions.awsPca;
      if (!this.#cfg.build) throw new Error("this build cannot run the aws_pca upstream authority");
      const built = await this.#cfg.build(pca, this.#cfg.logger);
      this.#managed = this.#cfg.wrap ? this.#cfg.wrap(built) : built;
      this.#version = row.version;
      this.#log.info("Managed UpstreamAuthority config loaded; it takes effect at the next CA rotation", {
        version: row.version,
        upstream_authority: built.name,
        certificate_authority_arn: pca.certificateAuthorityArn,
        region: pca.region,
      });
    } catch (err) {
      this.#log.error("Managed UpstreamAuthority config rejected; keeping the previous upstream", {
        version: row.version,
        [F.ERROR]: formatError(err),
      });
    }
  }
}
