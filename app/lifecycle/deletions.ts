/**
 * What the deletion jobs do, each in ONE transaction under the tenant's
 * row-level security (so a job can only ever touch its own tenant's rows):
 *
 *   deleteEntity          history, latest values, search document, entity row
 *   deleteAttributeRange  one attribute's history in [from, to); when that
 *                         held the latest value, the next-newest becomes latest
 *                         (or the attribute disappears from the entity)
 *
 * The warehouse follows through the change stream (Debezium ships each
 * deleted row's key; the loader deletes by key), the replicas by streaming
 * replication, and the cache is invalidated after commit.
 *
 * Racing ingest. The entity row is deleted FIRST: a flush that reaches this
 * entity afterwards waits on that row (INSERT … ON CONFLICT waits for the
 * deleting transaction) and then creates the entity anew — "a reading after
 * the delete makes a new entity". A flush already past that point when the
 * delete began may commit rows the delete did not see; deleteEntity then finds
 * rows of an entity that has no entity row (the signature of exactly that
 * race) and deletes again.
 */
import type { Redis } from "ioredis";
import { withTenant, type Pool, type PoolClient } from "../shared/db";
import { invalidateTouched } from "../ingest/writer/invalidate";

/** Rows removed per store. */
export interface Removed {
  history: number;
  latest: number;
  projection: number;
  entities: number;
  cache_entries: number;
}

export interface DeletionDeps {
  pool: Pool;
  redis?: Redis;
  cacheTtlSeconds: number;
  /** Progress of the job's steps (written on another connection, so readers see it). */
  onProgress?: (done: number, total: number, step: string) => Promise<void>;
}

const zero = (): Removed => ({ history: 0, latest: 0, projection: 0, entities: 0, cache_entries: 0 });

async function removeEntityRows(client: PoolClient, entityId: string, removed: Removed, progress: (step: string) => Promise<void>) {
  const run = async (sql: string) => (await client.query(sql, [entityId])).rowCount ?? 0;
  removed.entities += await run("DELETE FROM entities WHERE entity_id = $1");
  await progress("entities");
  removed.latest += await run("DELETE FROM entity_latest WHERE entity_id = $1");
  await progress("latest");
  removed.projection += await run("DELETE FROM entity_jsonb WHERE entity_id = $1");
  await progress("projection");
  removed.history += await run("DELETE FROM entity_values_ts WHERE entity_id = $1");
  await progress("history");
}

/** Rows of the entity left without an entity row: only a racing flush makes them. */
async function orphanedRows(pool: Pool, tenantId: string, entityId: string): Promise<boolean> {
  return withTenant(
    pool,
    tenantId,
    async (c) =>
      (
        await c.query<{ orphaned: boolean }>(
          `SELECT NOT EXISTS (SELECT 1 FROM entities WHERE entity_id = $1)
                  AND (EXISTS (SELECT 1 FROM entity_latest WHERE entity_id = $1)
                       OR EXISTS (SELECT 1 FROM entity_values_ts WHERE entity_id = $1)) AS orphaned`,
          [entityId],
        )
      ).rows[0].orphaned,
    { readOnly: true },
  );
}

async function invalidate(deps: DeletionDeps, tenantId: string, entityId: string, removed: Removed): Promise<void> {
  if (!deps.redis) return;
  if (await invalidateTouched(deps.redis, [{ tenantId, entityId }], deps.cacheTtlSeconds)) removed.cache_entries += 1;
}

export async function deleteEntity(deps: DeletionDeps, tenantId: string, entityId: string): Promise<Removed> {
  const removed = zero();
  const steps = ["entities", "latest", "projection", "history"];
  for (let pass = 0; pass < 3; pass++) {
    await withTenant(deps.pool, tenantId, (client) =>
      removeEntityRows(client, entityId, removed, async (step) => deps.onProgress?.(steps.indexOf(step) + 1, steps.length, step)),
    );
    if (!(await orphanedRows(deps.pool, tenantId, entityId))) break;
  }
  await invalidate(deps, tenantId, entityId, removed);
  return removed;
}

export interface AttributeRange {
  entityId: string;
  attributeId: number;
  attributeName: string;
  isHot: boolean;
  /** Inclusive, epoch ms. */
  fromMs: number;
  /** Exclusive, epoch ms. */
  toMs: number;
}

export async function deleteAttributeRange(deps: DeletionDeps, tenantId: string, range: AttributeRange): Promise<Removed & { new_latest_ts: string | null }> {
  const removed = zero();
  const from = new Date(range.fromMs);
  const to = new Date(range.toMs);
  let newLatest: string | null = null;
  await withTenant(deps.pool, tenantId, async (client) => {
    // The latest row first, locked: a flush of this attribute waits for us,
    // then applies its newer reading over what we leave.
    const latest = await client.query<{ ts: Date }>(
      "SELECT ts FROM entity_latest WHERE entity_id = $1 AND attribute_id = $2 FOR UPDATE",
      [range.entityId, range.attributeId],
    );
    const deleted = await client.query(
      "DELETE FROM entity_values_ts WHERE entity_id = $1 AND attribute_id = $2 AND ts >= $3 AND ts < $4",
      [range.entityId, range.attributeId, from, to],
    );
    removed.history = deleted.rowCount ?? 0;
    await deps.onProgress?.(1, 2, "history");
    const held = latest.rows[0];
    if (held && held.ts >= from && held.ts < to) {
      // The next-newest value by device time (one backward index scan per partition).
      const next = await client.query<{ ts: Date }>(
        `UPDATE entity_latest l SET ts = h.ts, value_int = h.value_int, value_decimal = h.value_decimal,
                value_bool = h.value_bool, value_string = h.value_string, value_ts = h.value_ts
         FROM (SELECT * FROM entity_values_ts WHERE entity_id = $1 AND attribute_id = $2 ORDER BY ts DESC LIMIT 1) h
         WHERE l.entity_id = $1 AND l.attribute_id = $2
         RETURNING l.ts`,
        [range.entityId, range.attributeId],
      );
      if (next.rowCount === 0) {
        removed.latest = (await client.query("DELETE FROM entity_latest WHERE entity_id = $1 AND attribute_id = $2", [range.entityId, range.attributeId])).rowCount ?? 0;
      } else {
        newLatest = next.rows[0].ts.toISOString();
      }
      // The search document mirrors latest for hot attributes; updated_at is
      // the newest device time of any attribute.
      const projected = await client.query(
        `UPDATE entity_jsonb j SET
           hot = CASE WHEN NOT $3::boolean THEN j.hot
                      WHEN l.ts IS NULL THEN j.hot - $4::text
                      ELSE j.hot || jsonb_build_object($4::text, atlas_value_json(a.data_type, l.value_int, l.value_decimal, l.value_bool, l.value_string, l.value_ts)) END,
           updated_at = coalesce((SELECT max(ts) FROM entity_latest WHERE entity_id = $1), j.updated_at)
         FROM attributes a
         LEFT JOIN entity_latest l ON l.entity_id = $1 AND l.attribute_id = a.attribute_id
         WHERE j.entity_id = $1 AND a.attribute_id = $2`,
        [range.entityId, range.attributeId, range.isHot, range.attributeName],
      );
      removed.projection = projected.rowCount ?? 0;
    }
    await deps.onProgress?.(2, 2, "latest");
  });
  await invalidate(deps, tenantId, range.entityId, removed);
  return { ...removed, new_latest_ts: newLatest };
}
