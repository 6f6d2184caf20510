/**
 * Bundle pruning (SPIRE PruneBundle): every 6 h, drop roots and JWT keys that expired more than 24 h ago. A root that
 * has not expired is never dropped, so after a move to an upstream the old self-signed root stays in the bundle, and
 * old SVIDs keep verifying, until it expires.
 * @module
 */
import { formatError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { TrustDomain } from "../../core/spiffeid/mod.ts";
import type { DataStore } from "../datastore/datastore.ts";

export const PRUNE_EVERY_MS = 6 * 3_600_000;
/** SPIRE's safetyThresholdBundle. */
export const PRUNE_SAFETY_MS = 24 * 3_600_000;

export class BundlePruner {
  #o: { ds: DataStore; trustDomain: TrustDomain; clock: Clock; logger: Logger };
  #last = Number.NEGATIVE_INFINITY;

  constructor(o: { ds: DataStore; trustDomain: TrustDomain; clock: Clock; logger: Logger }) {
    this.#o = o;
  }

  /** Prunes when the last prune is 6 h old; agents get the smaller bundle through the sync hub's poll. */
  async maybePrune(): Promise<void> {
    const { ds, trustDomain, clock, logger } = this.#o;
    const now = clock.now().getTime();
    if (now - this.#last < PRUNE_EVERY_MS) return;
    this.#last = now;
    try {
      const before = await ds.fetchBundle(trustDomain.name);
      const after = await ds.pruneBundle(trustDomain.name, Math.floor((now - PRUNE_SAFETY_MS) / 1000));
      if (before && after && after.sequence !== before.sequence) {
        logger.info("Bundle pruned", {
          x509_authorities: after.x509Authorities.length,
          removed_x509_authorities: before.x509Authorities.length - after.x509Authorities.length,
          removed_jwt_keys: before.jwtKeys.length - after.jwtKeys.length,
        });
      }
    } catch (err) {
      logger.warn("Failed to prune bundle", { [F.ERROR]: formatError(err) });
    }
  }
}
