/**
 * Reads of one entity from the projection (entity_jsonb) by primary key, and
 * the contract's entity shape (search.ts pages through many). Run inside
 * withTenant (RLS); the explicit tenant_id predicate is for the indexes, not
 * for isolation.
 */
import type { PoolClient } from "pg";

/** The contract's entity shape (without `_metadata`). */
export interface EntityView {
  entity_id: number | string;
  entity_type: string;
  attributes: Record<string, { value: unknown; ts: string }>;
  updated_at: string;
}

export interface EntityRow {
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
