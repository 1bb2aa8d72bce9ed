/**
 * Reads of one entity by primary key, and the contract's entity shape
 * (search.ts pages through many). The entity is its entity_jsonb row
 * (updated_at) with its type from `entities`; its attributes are its entity_latest rows, one per attribute
 * (migration 000009), rendered to JSON in SQL by atlas_value_json, the same
 * function that fills the hot projection, so a value reads the same either way.
 * Run inside withTenant (RLS); the explicit tenant_id predicate is for the
 * indexes, not for isolation.
 */
import type { PoolClient } from "pg";

/** The contract's entity shape (without `_metadata`). */
export interface EntityView {
  entity_id: number | string;
  /** null until a reading names the entity's type. */
  entity_type: string | null;
  attributes: Record<string, { value: unknown; ts: string }>;
  updated_at: string;
}

export interface EntityRow {
  entity_id: string;
  entity_type: string | null;
  attributes: EntityView["attributes"] | null;
  updated_at: Date;
}

/**
 * A scalar subquery: the latest attributes of the entity_jsonb row aliased
 * `row`, as {name: {"value": …, "ts": iso}} (null when it has none).
 */
export const attributesOf = (row: string) =>
  `(SELECT json_object_agg(a.name, json_build_object(
        'value', atlas_value_json(a.data_type, l.value_int, l.value_decimal, l.value_bool, l.value_string, l.value_ts),
        'ts', atlas_iso(l.ts)) ORDER BY a.name)
    FROM entity_latest l
    JOIN attributes a ON a.tenant_id = l.tenant_id AND a.attribute_id = l.attribute_id
    WHERE l.tenant_id = ${row}.tenant_id AND l.entity_id = ${row}.entity_id)`;

/** A scalar subquery: the type of the entity of the row aliased `row` (its one home is `entities`). */
export const entityTypeOf = (row: string) =>
  `(SELECT e.entity_type FROM entities e WHERE e.tenant_id = ${row}.tenant_id AND e.entity_id = ${row}.entity_id)`;

/** bigint ids as JSON numbers while exact, else as strings. */
export const idOut = (id: string): number | string => (Number.isSafeInteger(Number(id)) ? Number(id) : id);

export function toEntityView(row: EntityRow): EntityView {
  return { entity_id: idOut(row.entity_id), entity_type: row.entity_type, attributes: row.attributes ?? {}, updated_at: row.updated_at.toISOString() };
}

export async function getEntity(client: PoolClient, tenantId: string, entityId: string): Promise<EntityView | null> {
  const { rows } = await client.query<EntityRow>(
    `SELECT j.entity_id::text, ${entityTypeOf("j")} AS entity_type, ${attributesOf("j")} AS attributes, j.updated_at
     FROM entity_jsonb j WHERE j.tenant_id = $1 AND j.entity_id = $2::bigint`,
    [tenantId, entityId],
  );
  return rows.length === 0 ? null : toEntityView(rows[0]);
}

/** Many entities by id in one probe of the projection; ids the tenant does not have are simply not returned. */
export async function getEntities(client: PoolClient, tenantId: string, entityIds: readonly string[]): Promise<EntityView[]> {
  const { rows } = await client.query<EntityRow>(
    `SELECT j.entity_id::text, ${entityTypeOf("j")} AS entity_type, ${attributesOf("j")} AS attributes, j.updated_at
     FROM entity_jsonb j WHERE j.tenant_id = $1 AND j.entity_id = ANY($2::bigint[])`,
    [tenantId, entityIds],
  );
  return rows.map(toEntityView);
}

export async function entityExists(client: PoolClient, tenantId: string, entityId: string): Promise<boolean> {
  const { rowCount } = await client.query("SELECT 1 FROM entities WHERE tenant_id = $1 AND entity_id = $2::bigint", [tenantId, entityId]);
  return rowCount === 1;
}
