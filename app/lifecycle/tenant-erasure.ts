/**
 * Erasing a tenant (a GDPR request; `npm run tenant -- erase <name>`):
 * everything of it is removed from every store, and counted.
 *
 *  1. The tenant is deactivated and committed first: its keys answer 401
 *     within a second (the auth cache TTL), so no new reading is accepted
 *     while the rest runs.
 *  2. Every row of the tenant on the primary, in one transaction (all or
 *     nothing). The replicas follow by replication.
 *  3. The cache: every key of the tenant (SCAN, never KEYS).
 *  4. The warehouse, directly, when one is configured. The change stream
 *     also carries each deleted row's key there; inserts still in flight
 *     are followed by their deletes in the same stream, so the warehouse
 *     converges to zero rows either way.
 * A reading still queued in Kafka for the erased tenant cannot recreate it:
 * `entities` references `tenants`, so its flush fails and it goes to the
 * dead-letter topic.
 */
import type { Redis } from "ioredis";
import { withOperatorTenant, type Pool } from "../shared/db";
import { setTenantDeactivated } from "../shared/tenants";

/** Child tables first: each count is what that statement removed. */
const PRIMARY_TABLES = ["jobs", "entity_values_ts", "entity_latest", "entity_jsonb", "entities", "attributes", "api_keys", "tenants"] as const;
const WAREHOUSE_TABLES = ["fact_readings", "current_state", "dim_entities", "dim_attributes", "dim_tenants"] as const;

export interface ErasureCounts {
  primary: Record<(typeof PRIMARY_TABLES)[number], number>;
  cache_keys: number;
  /** Absent when no warehouse is configured. */
  warehouse?: Record<(typeof WAREHOUSE_TABLES)[number], number>;
}

async function eraseCache(redis: Redis, tenantId: string): Promise<number> {
  // Service clients queue no commands while connecting (app/shared/redis.ts).
  if (redis.status !== "ready") {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("Redis did not become ready within 5 s; the cache was not erased")), 5_000);
      redis.once("ready", () => (clearTimeout(timer), resolve()));
    });
  }
  let removed = 0;
  // Every cache key embeds the tenant id (app/shared/cache/entity-cache.ts).
  const stream = redis.scanStream({ match: `atlas:*${tenantId}*`, count: 1000 });
  for await (const keys of stream as AsyncIterable<string[]>) {
    if (keys.length > 0) removed += await redis.unlink(...keys);
  }
  return removed;
}

export async function eraseTenant(pool: Pool, tenantId: string, stores: { redis?: Redis; warehouse?: Pool } = {}): Promise<ErasureCounts> {
  await setTenantDeactivated(pool, tenantId, true);
  const primary = await withOperatorTenant(pool, tenantId, async (client) => {
    const counts = {} as ErasureCounts["primary"];
    for (const table of PRIMARY_TABLES) {
      counts[table] = (await client.query(`DELETE FROM ${table} WHERE tenant_id = $1`, [tenantId])).rowCount ?? 0;
    }
    return counts;
  });
  const result: ErasureCounts = { primary, cache_keys: stores.redis ? await eraseCache(stores.redis, tenantId) : 0 };
  if (stores.warehouse) {
    const warehouse = {} as NonNullable<ErasureCounts["warehouse"]>;
    for (const table of WAREHOUSE_TABLES) {
      warehouse[table] = (await stores.warehouse.query(`DELETE FROM ${table} WHERE tenant_id = $1`, [tenantId])).rowCount ?? 0;
    }
    result.warehouse = warehouse;
  }
  return result;
}
