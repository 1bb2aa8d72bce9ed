/**
 * The attribute registry as the ingest API sees it: a per-process cache
 * tenant → name → {id, type, hot}, refreshed from PostgreSQL on a miss (at
 * most once a second per tenant, so a client sending random names cannot
 * turn every reading into a query). Types never change once created (a
 * trigger refuses it), so a cached type is never wrong; a new attribute
 * registered by another process is found by the refresh on miss.
 */
import { WRITER_ROLE, withTenant, withTransaction, type Pool } from "../shared/db";
import { AppError } from "../shared/http/errors";
import { log } from "../shared/log";
import type { DataType } from "./types";
import type { AttributeDef } from "./validate";

interface TenantAttributes {
  byName: Map<string, AttributeDef>;
  byId: Map<number, AttributeDef>;
  loadedAt: number;
}

export interface AttributeRow {
  name: string;
  data_type: DataType;
  hot: boolean;
  attribute_id: number;
  created_at: string;
}

const REFRESH_MIN_INTERVAL_MS = 1_000;

export class AttributeRegistry {
  private readonly tenants = new Map<string, TenantAttributes>();
  private readonly loading = new Map<string, Promise<TenantAttributes>>();

  constructor(private readonly pool: Pool) {}

  /** The tenant's attributes, loaded once per process and on refresh. */
  async forTenant(tenantId: string): Promise<TenantAttributes> {
    return this.tenants.get(tenantId) ?? this.load(tenantId);
  }

  /** Reloads the tenant unless it was loaded within the last second; true when it did. */
  async refresh(tenantId: string): Promise<boolean> {
    const current = this.tenants.get(tenantId);
    if (current && Date.now() - current.loadedAt < REFRESH_MIN_INTERVAL_MS) return false;
    await this.load(tenantId);
    return true;
  }

  /** Synchronous type lookup by id (the direct sink's storage step). */
  typeOf(tenantId: string, attributeId: number): DataType | undefined {
    return this.tenants.get(tenantId)?.byId.get(attributeId)?.type;
  }

  private load(tenantId: string): Promise<TenantAttributes> {
    const inFlight = this.loading.get(tenantId);
    if (inFlight) return inFlight;
    const p = withTenant(
      this.pool,
      tenantId,
      (c) => c.query<{ attribute_id: number; name: string; data_type: DataType; is_hot: boolean }>(
        "SELECT attribute_id, name, data_type, is_hot FROM attributes",
      ),
      { readOnly: true },
    )
      .then(({ rows }) => {
        const t: TenantAttributes = { byName: new Map(), byId: new Map(), loadedAt: Date.now() };
        for (const r of rows) {
          const def = { id: r.attribute_id, name: r.name, type: r.data_type, hot: r.is_hot };
          t.byName.set(r.name, def);
          t.byId.set(r.attribute_id, def);
        }
        this.tenants.set(tenantId, t);
        return t;
      })
      .finally(() => this.loading.delete(tenantId));
    this.loading.set(tenantId, p);
    return p;
  }

  async list(tenantId: string): Promise<AttributeRow[]> {
    return withTenant(
      this.pool,
      tenantId,
      async (c) =>
        (
          await c.query<AttributeRow>(
            `SELECT name, data_type, is_hot AS hot, attribute_id, created_at FROM attributes ORDER BY name`,
          )
        ).rows,
      { readOnly: true },
    );
  }

  /**
   * Registers an attribute. Returns `created: false` when it existed with the
   * same type (idempotent; a changed `hot` flag is applied and the projection
   * of existing entities re-synced); throws 409 when it exists with another type.
   */
  async register(
    tenantId: string,
    name: string,
    dataType: DataType,
    hot: boolean | undefined,
  ): Promise<{ attribute: AttributeRow; created: boolean }> {
    const result = await withTenant(this.pool, tenantId, async (c) => {
      const ins = await c.query<AttributeRow>(
        `INSERT INTO attributes (tenant_id, name, data_type, is_hot) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, name) DO NOTHING
         RETURNING name, data_type, is_hot AS hot, attribute_id, created_at`,
        [tenantId, name, dataType, hot ?? false],
      );
      if (ins.rows.length === 1) return { attribute: ins.rows[0], created: true, hotChanged: false };
      const existing = (
        await c.query<AttributeRow>(
          `SELECT name, data_type, is_hot AS hot, attribute_id, created_at FROM attributes WHERE name = $1 FOR UPDATE`,
          [name],
        )
      ).rows[0];
      if (existing.data_type !== dataType) {
        throw new AppError(
          409,
          "attribute_type_conflict",
          `attribute '${name}' exists with data type ${existing.data_type}; a data type cannot change (register a new attribute instead)`,
          "data_type",
        );
      }
      if (hot !== undefined && hot !== existing.hot) {
        await c.query("UPDATE attributes SET is_hot = $2 WHERE name = $1", [name, hot]);
        return { attribute: { ...existing, hot }, created: false, hotChanged: true };
      }
      return { attribute: existing, created: false, hotChanged: false };
    });
    if (result.hotChanged) {
      // Bring the hot projection of entities that already hold a value in line
      // with the flag (stage_flush only merges from the next reading on).
      await withTransaction(this.pool, async (c) => {
        await c.query(`SET LOCAL ROLE ${WRITER_ROLE}`);
        await c.query("SELECT atlas_sync_hot_attribute($1, $2)", [tenantId, name]);
      }).catch((err) => log.warn("hot attribute re-sync failed", { tenant_id: tenantId, attribute: name, error: err }));
    }
    await this.load(tenantId);
    return { attribute: result.attribute, created: result.created };
  }
}

const registries = new WeakMap<Pool, AttributeRegistry>();

/** The one registry of a pool in this process (the API and the direct sink share it). */
export function registryFor(pool: Pool): AttributeRegistry {
  let r = registries.get(pool);
  if (!r) registries.set(pool, (r = new AttributeRegistry(pool)));
  return r;
}
