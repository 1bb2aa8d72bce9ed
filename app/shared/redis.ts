/**
 * Redis is a cache here, never a source of truth: commands fail fast while it
 * is down (no offline queue, no per-command retries) so callers can bypass it
 * instead of waiting, and the client reconnects in the background.
 */
import Redis from "ioredis";
import { log } from "./log";

export type { Redis } from "ioredis";

export function createRedis(url: string, name: string): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
    commandTimeout: 500,
    lazyConnect: false,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  let down = false;
  redis.on("error", (err) => {
    if (!down) log.warn("redis unavailable", { client: name, error: err });
    down = true;
  });
  redis.on("ready", () => {
    if (down) log.info("redis back", { client: name });
    down = false;
  });
  return redis;
}
