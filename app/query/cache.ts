/**
 * Cache-aside for eventual reads, on the shared version-guarded readThrough
 * (app/shared/cache/entity-cache.ts: the writer's INCR+DEL wins every race
 * with a reader, because a reader stores only if the version it read before
 * querying is still current).
 *
 *  - Entities: key atlas:ent:{tenant}:{id}.
 *  - Searches: the same mechanism under the id `search:{generation}:{hash}`,
 *    where the generation is the tenant's search generation the writer bumps
 *    on every write (searchGenerationKey), read BEFORE the query: a search
 *    that raced a write stores under the old generation, which nobody reads
 *    any more. Short TTL (at most 10 s): a search result is a whole page.
 *
 * Strong reads never use the cache (read-after-write must see the primary).
 *
 * Truthful lag: the cached copy stores the source and its lag at load time
 * and when it was cached; a hit reports source lag + age as its lag, an
 * upper bound that does not rely on invalidation having reached Redis. A hit
 * whose lag is over the caller's budget is dropped and reloaded.
 */
import { createHash } from "crypto";
import { CacheStatus, entityKey, readThrough, searchGenerationKey } from "../shared/cache/entity-cache";
import type { QueryContext } from "./context";
import { cacheLookups } from "./metrics";
import type { ReadPolicy } from "./routing/consistency";
import type { ReadResult } from "./routing/route-read";

interface Cached<T> {
  value: T;
  source: string;
  lag: number;
  cached_at: number;
}

export interface CachedRead<T> {
  value: T;
  source: string;
  lagSeconds: number;
  cacheStatus: CacheStatus;
}

export const SEARCH_CACHE_MAX_TTL_SECONDS = 10;

/**
 * Reads `id` (an entity id or a search key) through the cache; `load` runs the
 * routed query. Null values (404) are not cached.
 */
async function cachedRead<T>(
  ctx: QueryContext,
  endpoint: string,
  policy: ReadPolicy,
  tenantId: string,
  id: string,
  ttlSeconds: number,
  load: () => Promise<ReadResult<T | null>>,
): Promise<CachedRead<T | null>> {
  if (policy.level !== "eventual" || !ctx.redis) {
    const r = await load();
    cacheLookups.inc({ endpoint, status: "bypass" });
    return { value: r.value, source: r.source, lagSeconds: r.lagSeconds, cacheStatus: "bypass" };
  }
  const redis = ctx.redis;
  for (let attempt = 0; ; attempt++) {
    let loaded: ReadResult<T | null> | null = null;
    const { value, status } = await readThrough<Cached<T>>(redis, tenantId, id, ttlSeconds, async () => {
      // Stamped before the read: the source's lag is a bound as of the moment
      // it was picked, so the copy's age counts from no later than that.
      const startedAt = Date.now();
      loaded = await load();
      return loaded.value === null ? null : { value: loaded.value, source: loaded.source, lag: loaded.lagSeconds, cached_at: startedAt };
    });
    const fresh = loaded as ReadResult<T | null> | null;
    if (status === "hit" && value) {
      const lag = value.lag + Math.max(0, Date.now() - value.cached_at) / 1000;
      if (lag <= policy.maxLagSeconds) {
        cacheLookups.inc({ endpoint, status: "hit" });
        return { value: value.value, source: "cache", lagSeconds: lag, cacheStatus: "hit" };
      }
      if (attempt === 0) {
        // Older than the caller accepts: drop it (best effort) and read through again.
        await redis.del(entityKey(tenantId, id)).catch(() => undefined);
        continue;
      }
      // Still too old (another reader stored an old copy meanwhile): answer from the database.
      const r = await load();
      cacheLookups.inc({ endpoint, status: "miss" });
      return { value: r.value, source: r.source, lagSeconds: r.lagSeconds, cacheStatus: "miss" };
    }
    cacheLookups.inc({ endpoint, status });
    if (!fresh) throw new Error("cache read returned neither a hit nor a load");
    return { value: fresh.value, source: fresh.source, lagSeconds: fresh.lagSeconds, cacheStatus: status };
  }
}

export function cachedEntity<T>(
  ctx: QueryContext,
  policy: ReadPolicy,
  tenantId: string,
  entityId: string,
  load: () => Promise<ReadResult<T | null>>,
): Promise<CachedRead<T | null>> {
  return cachedRead(ctx, "entity", policy, tenantId, entityId, ctx.config.CACHE_TTL_SECONDS, load);
}

/** `request` must be the normalised search (filters hash, cursor, limit). */
export async function cachedSearch<T>(
  ctx: QueryContext,
  policy: ReadPolicy,
  tenantId: string,
  request: unknown,
  load: () => Promise<ReadResult<T>>,
): Promise<CachedRead<T>> {
  let id: string | null = null;
  if (policy.level === "eventual" && ctx.redis && ctx.redis.status === "ready") {
    try {
      const generation = (await ctx.redis.get(searchGenerationKey(tenantId))) ?? "0";
      const hash = createHash("sha256").update(JSON.stringify(request)).digest("base64url").slice(0, 32);
      id = `search:${generation}:${hash}`;
    } catch {
      id = null; // Redis failing: bypass below
    }
  }
  if (id === null) {
    const r = await load();
    cacheLookups.inc({ endpoint: "search", status: "bypass" });
    return { value: r.value, source: r.source, lagSeconds: r.lagSeconds, cacheStatus: "bypass" };
  }
  const ttl = Math.min(ctx.config.CACHE_TTL_SECONDS, SEARCH_CACHE_MAX_TTL_SECONDS);
  return cachedRead(ctx, "search", policy, tenantId, id, ttl, load) as Promise<CachedRead<T>>;
}
