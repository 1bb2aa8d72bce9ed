/**
 * Cache-aside for an entity's latest values, with a version guard so the
 * writer's invalidation always wins a race with a reader.
 *
 * Invalidation (writer, after its commit): INCR the entity's version and DEL
 * its cached value. A reader reads the version BEFORE it queries PostgreSQL
 * and stores its answer only if the version is still the one it read (one Lua
 * script, atomic in Redis). So a read that started before an invalidation can
 * never put the stale value back: either its store runs first and the DEL
 * removes it, or it runs after and sees a newer version.
 *
 * Version keys outlive every value stored under them (the store refreshes the
 * version's expiry), so an expired version can never be recreated equal to a
 * value's stale version.
 */
import type { Redis } from "ioredis";

export const entityKey = (tenantId: string, entityId: number | string) => `atlas:ent:${tenantId}:${entityId}`;
export const versionKey = (tenantId: string, entityId: number | string) => `atlas:entv:${tenantId}:${entityId}`;
/** Bumped on every write of a tenant: cached searches of the tenant embed it in their key. */
export const searchGenerationKey = (tenantId: string) => `atlas:searchgen:${tenantId}`;

/** Versions live this much longer than the values stored under them. */
const VERSION_GRACE_SECONDS = 60;

// KEYS[1]=value key, KEYS[2]=version key; ARGV[1]=version read before the query ("" = none), ARGV[2]=value, ARGV[3]=ttl s
const storeIfVersionUnchanged = `
local current = redis.call('GET', KEYS[2])
if current == false then current = '' end
if current ~= ARGV[1] then return 0 end
local ttl = tonumber(ARGV[3])
if current == '' then
  redis.call('SET', KEYS[2], '0', 'EX', ttl + ${VERSION_GRACE_SECONDS})
else
  local left = redis.call('TTL', KEYS[2])
  if left >= 0 and left < ttl + ${VERSION_GRACE_SECONDS} then redis.call('EXPIRE', KEYS[2], ttl + ${VERSION_GRACE_SECONDS}) end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)
return 1
`;

export type CacheStatus = "hit" | "miss" | "bypass";

/**
 * Returns the cached value, or loads it and caches it guarded by the version.
 * Any Redis failure degrades to a direct load with status "bypass".
 */
export async function readThrough<T>(
  redis: Redis | undefined,
  tenantId: string,
  entityId: number | string,
  ttlSeconds: number,
  load: () => Promise<T | null>,
): Promise<{ value: T | null; status: CacheStatus }> {
  if (!redis || redis.status !== "ready") return { value: await load(), status: "bypass" };
  let cached: [string | null, string | null];
  try {
    cached = (await redis.mget(entityKey(tenantId, entityId), versionKey(tenantId, entityId))) as [string | null, string | null];
  } catch {
    return { value: await load(), status: "bypass" };
  }
  if (cached[0] !== null) return { value: JSON.parse(cached[0]) as T, status: "hit" };
  const versionBefore = cached[1] ?? "";
  const value = await load();
  if (value !== null) {
    try {
      await redis.eval(
        storeIfVersionUnchanged, 2,
        entityKey(tenantId, entityId), versionKey(tenantId, entityId),
        versionBefore, JSON.stringify(value), String(ttlSeconds),
      );
    } catch {
      // Storing is best effort; the answer is already correct.
    }
  }
  return { value, status: "miss" };
}

/**
 * Called by the writer after its transaction committed. Throws when Redis is
 * unreachable so the caller can decide (the writer logs and relies on TTLs).
 */
export async function invalidateEntities(
  redis: Redis,
  entities: ReadonlyArray<{ tenantId: string; entityId: number | string }>,
  ttlSeconds: number,
): Promise<void> {
  if (entities.length === 0) return;
  const pipeline = redis.multi();
  const tenants = new Set<string>();
  for (const { tenantId, entityId } of entities) {
    const vk = versionKey(tenantId, entityId);
    pipeline.incr(vk).expire(vk, ttlSeconds + VERSION_GRACE_SECONDS).del(entityKey(tenantId, entityId));
    tenants.add(tenantId);
  }
  for (const tenantId of tenants) pipeline.incr(searchGenerationKey(tenantId));
  await pipeline.exec();
}
