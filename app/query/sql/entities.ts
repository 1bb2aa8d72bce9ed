/**
 * Reads of the projection (entity_jsonb): one entity by primary key, and the
 * filtered, keyset-paged search. Run inside withTenant (RLS); the explicit
 * tenant_id predicate is for the indexes, not for isolation.
 */
import type { PoolClient } from "pg";
import { buildFilterSql, ParsedFilter } from "../search/filters";
import type { CursorPosition } from "../search/cursor";

/** The contract's entity shape (without `_metadata`). */
export interface EntityView {
  entity_id: number | string;
  entity_type: string;
  attributes: Record<string, { value: unknown; ts: string }>;
  updated_at: string;
}

interface EntityRow {
  entity_id: string;
  entity_type: string;
  latest: Record<string, { v: unknown; ts: string }>;
  updated_at: Date;
}

/** bigint ids as JSON numbers while exact, else as strings. */
export const idOut = (id: string): number | string => (Number.isSafeInteger(Number(id)) ? Number(id) : id);

export function toEntityView(row: EntityRow): EntityView {
  const attributes: EntityView["attributes"] = {};
  for (const [name, entry] of Object.entries(row.latest ?? {})) attributes[name] = { value: entry.v, ts: entry.ts };
  return { entity_id: idOut(row.entity_id), entity_type: row.entity_type, attributes, updated_at: row.updated_at.toISOString() };
}

export async function getEntity(client: PoolClient, tenantId: string, entityId: string): Promise<EntityView | null> {
  const { rows } = await client.query<EntityRow>(
    `SELECT entity_id::text, entity_type, latest, updated_at
     FROM entity_jsonb WHERE tenant_id = $1 AND entity_id = $2::bigint`,
    [tenantId, entityId],
  );
  return rows.length === 0 ? null : toEntityView(rows[0]);
}

export async function entityExists(client: PoolClient, tenantId: string, entityId: string): Promise<boolean> {
  const { rowCount } = await client.query("SELECT 1 FROM entities WHERE tenant_id = $1 AND entity_id = $2::bigint", [tenantId, entityId]);
  return rowCount === 1;
}

export interface SearchPage {
  entities: EntityView[];
  /** Position of the last row when there are more rows, else null. */
  next: CursorPosition | null;
}

/** The search statement and its parameters (exported for EXPLAIN checks and tests). */
export function searchSql(tenantId: string, filters: readonly ParsedFilter[], after: CursorPosition | null, limit: number) {
  const params: unknown[] = [tenantId];
  const where = ["tenant_id = $1"];
  const f = buildFilterSql(filters, 2);
  where.push(...f.clauses);
  params.push(...f.params);
  if (after) {
    params.push(after.updatedAt, after.entityId);
    where.push(`(updated_at, entity_id) < ($${params.length - 1}::timestamptz, $${params.length}::bigint)`);
  }
  params.push(limit + 1);
  // Output columns must not be named like the ORDER BY columns: ORDER BY binds
  // output names first, and entity_id::text would then sort as text.
  const text = `SELECT entity_id::text AS id, entity_type, latest, updated_at,
      to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS position
    FROM entity_jsonb
    WHERE ${where.join("\n      AND ")}
    ORDER BY updated_at DESC, entity_id DESC
    LIMIT $${params.length}`;
  return { text, params };
}

export async function searchEntities(
  client: PoolClient,
  tenantId: string,
  filters: readonly ParsedFilter[],
  after: CursorPosition | null,
  limit: number,
): Promise<SearchPage> {
  const q = searchSql(tenantId, filters, after, limit);
  const { rows } = await client.query<Omit<EntityRow, "entity_id"> & { id: string; position: string }>(q.text, q.params);
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page[page.length - 1];
  return {
    entities: page.map((r) => toEntityView({ ...r, entity_id: r.id })),
    next: more && last ? { updatedAt: last.position, entityId: last.id } : null,
  };
}
