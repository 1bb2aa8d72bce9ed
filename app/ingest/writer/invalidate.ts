/**
 * Cache invalidation after a committed write. Redis is a cache, never the
 * source of truth: when it is down the writer logs, counts it, and goes on
 * (committing its offsets) — a stale cached entity then lives at most
 * CACHE_TTL_SECONDS, which bounds the staleness. Blocking the write path on
 * the cache would turn a cache outage into an ingest outage.
 */
import type { Redis } from "ioredis";
import { invalidateEntities } from "../../shared/cache/entity-cache";
import { counter } from "../../shared/http/metrics";
import { log } from "../../shared/log";

const failures = counter(
  "atlas_writer_cache_invalidation_failures_total",
  "Committed batches whose Redis invalidation failed (stale for at most CACHE_TTL_SECONDS)",
);

/** Chunk size of one MULTI: a few thousand keys per round trip. */
const CHUNK = 2_000;

export async function invalidateTouched(
  redis: Redis,
  touched: ReadonlyArray<{ tenantId: string; entityId: string }>,
  ttlSeconds: number,
  attempts = 3,
): Promise<boolean> {
  if (touched.length === 0) return true;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      for (let i = 0; i < touched.length; i += CHUNK) {
        await invalidateEntities(redis, touched.slice(i, i + CHUNK), ttlSeconds);
      }
      return true;
    } catch (err) {
      if (attempt === attempts) {
        failures.inc();
        log.warn("cache invalidation failed; cached entities stay stale until their TTL", {
          entities: touched.length,
          ttl_seconds: ttlSeconds,
          error: err,
        });
        return false;
      }
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
  return false;
}
