/**
 * The agent's JWT-SVID cache (SPIRE cache.JWTSVIDCache plus manager.FetchJWTSVID): keyed by SPIFFE ID and the sorted
 * audience set, renewed from the server at half life, LRU-bounded, and a stale-but-valid token served if renewal fails.
 * @module
 */
import { decodeProtectedHeader } from "jose";
import { formatError, UnavailableError } from "../../core/errors.ts";
import * as F from "../../core/log/fields.ts";
import type { Logger } from "../../core/log/logger.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { IssuedJWTSVID } from "../client/server_client.ts";

/** Where new JWT-SVIDs come from (the server client). */
export interface JWTSVIDSource {
  newJWTSVID(entryID: string, audience: string[]): Promise<IssuedJWTSVID>;
}

/** SPIRE's `jwt_svid_cache_max_size` default (a hard limit). */
export const DEFAULT_JWT_CACHE_MAX_SIZE = 1000;

export interface JWTSVIDCacheConfig {
  source: JWTSVIDSource;
  clock: Clock;
  logger: Logger;
  maxSize?: number;
  /** Key ids currently in the trust bundle; a cached token signed by any other key is fetched again. */
  keyIDs?: () => readonly string[];
}

/** The cache key: SPIFFE ID plus the audience set, order- and duplicate-insensitive. */
export function jwtCacheKey(spiffeID: string, audience: readonly string[]): string {
  return JSON.stringify([spiffeID, [...new Set(audience)].sort()]);
}

/** Half of the lifetime has passed (SPIRE rotationutil.JWTSVIDExpiresSoon). */
export function jwtExpiresSoon(svid: IssuedJWTSVID, now: Date): boolean {
  const half = (svid.expiresAt.getTime() - svid.issuedAt.getTime()) / 2;
  return now.getTime() >= svid.issuedAt.getTime() + half;
}

export class JWTSVIDCache {
  #c: JWTSVIDCacheConfig;
  #max: number;
  /** Map iteration order is insertion order, so re-inserting on use makes the first key the least recently used. */
  #svids = new Map<string, IssuedJWTSVID>();
  #inflight = new Map<string, Promise<IssuedJWTSVID>>();

  constructor(cfg: JWTSVIDCacheConfig) {
    this.#c = cfg;
    this.#max = cfg.maxSize && cfg.maxSize > 0 ? cfg.maxSize : DEFAULT_JWT_CACHE_MAX_SIZE;
  }

  get size(): number {
    return this.#svids.size;
  }

  /**
   * A JWT-SVID for the entry and audience: the cached one until half its life, else a new one from the server.
   * @throws what the source throws when there is no unexpired cached token to fall back to
   */
  fetch(entry: { id: string; spiffeID: string }, audience: string[]): Promise<IssuedJWTSVID> {
    const key = jwtCacheKey(entry.spiffeID, audience);
    const cached = this.#get(key);
    if (cached && !jwtExpiresSoon(cached, this.#c.clock.now()) && this.#signedByKnownKey(cached)) return Promise.resolve(cached);
    // Concurrent callers for the same key share one server call.
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    const p = this.#renew(key, entry, audience, cached).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  async #renew(key: string, entry: { id: string; spiffeID: string }, audience: string[], cached: IssuedJWTSVID | undefined): Promise<IssuedJWTSVID> {
    let svid: IssuedJWTSVID;
    try {
      svid = await this.#c.source.newJWTSVID(entry.id, audience);
    } catch (err) {
      const now = this.#c.clock.now().getTime();
      if (!cached) throw err;
      if (cached.expiresAt.getTime() <= now) throw new UnavailableError(`unable to renew JWT for "${entry.spiffeID}"`, { cause: err });
      this.#c.logger.warn("Unable to renew JWT; returning cached copy", { [F.SPIFFE_ID]: entry.spiffeID, [F.ERROR]: formatError(err) });
      return cached;
    }
    this.#set(key, svid);
    return svid;
  }

  #get(key: string): IssuedJWTSVID | undefined {
    const v = this.#svids.get(key);
    if (v) {
      this.#svids.delete(key);
      this.#svids.set(key, v);
    }
    return v;
  }

  #set(key: string, svid: IssuedJWTSVID): void {
    this.#svids.delete(key);
    if (this.#svids.size >= this.#max) {
      const oldest = this.#svids.keys().next().value;
      if (oldest !== undefined) this.#svids.delete(oldest);
    }
    this.#svids.set(key, svid);
  }

  #signedByKnownKey(svid: IssuedJWTSVID): boolean {
    if (!this.#c.keyIDs) return true;
    try {
      const kid = decodeProtectedHeader(svid.token).kid;
      return kid !== undefined && this.#c.keyIDs().includes(kid);
    } catch {
      return false;
    }
  }
}
