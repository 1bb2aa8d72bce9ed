/**
 * An entity's type, once set, never changes (the contract): a reading that
 * names another type is refused with 400 naming its `entity_type`. A reading
 * that names none is fine; so is the first one that names one (the flush
 * sets it: migration 000013).
 *
 * Checked at accept, before anything of the request is stored or
 * registered, against `entities` on the primary (the type's one home) in one
 * query per request for the entities this process has not seen typed yet.
 * Set types are cached in process: they never change, so a cached type is
 * never stale (a deleted entity that comes back is a new entity: its cached
 * type is dropped by the LRU in time, and until then a different type is
 * refused, which is the conservative answer). Untyped and unknown entities
 * are not cached: their type may be set any moment.
 *
 * Two requests naming different types for one new entity at the same moment
 * both pass; the flush keeps the first stored (never overwrites a set type).
 */
import type { Pool } from "pg";
import { withTenant } from "../shared/db";

/** Typed entities cached per process (~100 B each). */
const MAX_CACHED = 200_000;

export interface TypeConflict {
  /** The reading's index in its request. */
  index: number;
  reason: string;
}

export class EntityTypes {
  private readonly cache = new Map<string, string>();

  constructor(private readonly pool: Pool, private readonly maxCached = MAX_CACHED) {}

  /**
   * The readings (by entity: the type the request names and the first
   * reading that names it) whose type differs from the entity's stored one.
   */
  async conflicts(tenantId: string, named: ReadonlyMap<string, { type: string; index: number }>): Promise<TypeConflict[]> {
    const stored = new Map<string, string>();
    const unknown: string[] = [];
    for (const id of named.keys()) {
      const hit = this.cache.get(`${tenantId}:${id}`);
      if (hit === undefined) unknown.push(id);
      else stored.set(id, hit);
    }
    if (unknown.length > 0) {
      const rows = await withTenant(
        this.pool,
        tenantId,
        async (c) =>
          (
            await c.query<{ entity_id: string; entity_type: string }>(
              "SELECT entity_id::text, entity_type FROM entities WHERE tenant_id = $1 AND entity_id = ANY($2::bigint[]) AND entity_type IS NOT NULL",
              [tenantId, unknown],
            )
          ).rows,
        { readOnly: true },
      );
      for (const r of rows) {
        stored.set(r.entity_id, r.entity_type);
        this.remember(`${tenantId}:${r.entity_id}`, r.entity_type);
      }
    }
    const out: TypeConflict[] = [];
    for (const [id, { type, index }] of named) {
      const was = stored.get(id);
      if (was !== undefined && was !== type) out.push({ index, reason: `entity ${id} is a '${was}'; its type cannot change to '${type}'` });
    }
    return out.sort((a, b) => a.index - b.index);
  }

  private remember(key: string, type: string): void {
    if (this.cache.size >= this.maxCached) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, type);
  }
}

const instances = new WeakMap<Pool, EntityTypes>();

/** The one entity-type check of a pool in this process. */
export function entityTypesFor(pool: Pool): EntityTypes {
  let t = instances.get(pool);
  if (!t) instances.set(pool, (t = new EntityTypes(pool)));
  return t;
}
