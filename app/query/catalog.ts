/**
 * The tenant's attribute dictionary (name → id, type, hot), cached in
 * process: every search and time-series request needs it to validate names
 * and pick typed columns. Read from the primary (the source of truth, so an
 * attribute created a moment ago is known); a name the cache does not know
 * triggers one reload before it is called unknown.
 */
import type { Pool } from "pg";
import { withTenant } from "../shared/db";

export const DATA_TYPES = ["int", "decimal", "bool", "string", "timestamp"] as const;
export type DataType = (typeof DATA_TYPES)[number];

export interface AttributeDef {
  attributeId: number;
  name: string;
  dataType: DataType;
  isHot: boolean;
}

export type Dictionary = ReadonlyMap<string, AttributeDef>;

export interface CatalogOptions {
  /** How long a tenant's dictionary is trusted, ms. Defaults to 30 s. */
  ttlMs?: number;
  /** Reloads for an unknown name at most this often per tenant, ms. Defaults to 1 s. */
  reloadMinIntervalMs?: number;
  /** Tenants kept. Defaults to 10,000. */
  maxTenants?: number;
}

export class AttributeCatalog {
  private readonly cache = new Map<string, { loadedAt: number; dict: Dictionary }>();
  private readonly ttlMs: number;
  private readonly reloadMinIntervalMs: number;
  private readonly maxTenants: number;

  constructor(private readonly primary: Pool, opts: CatalogOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.reloadMinIntervalMs = opts.reloadMinIntervalMs ?? 1_000;
    this.maxTenants = opts.maxTenants ?? 10_000;
  }

  /** The dictionary, guaranteed fresh enough to contain `names` if they exist. */
  async dictionary(tenantId: string, names: readonly string[] = []): Promise<Dictionary> {
    const now = Date.now();
    const hit = this.cache.get(tenantId);
    if (hit && now - hit.loadedAt < this.ttlMs) {
      const missing = names.some((n) => !hit.dict.has(n));
      if (!missing || now - hit.loadedAt < this.reloadMinIntervalMs) return hit.dict;
    }
    const dict = await this.load(tenantId);
    if (this.cache.size >= this.maxTenants) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(tenantId, { loadedAt: now, dict });
    return dict;
  }

  private async load(tenantId: string): Promise<Dictionary> {
    const rows = await withTenant(
      this.primary,
      tenantId,
      async (c) =>
        (
          await c.query<{ attribute_id: number; name: string; data_type: DataType; is_hot: boolean }>(
            "SELECT attribute_id, name, data_type, is_hot FROM attributes",
          )
        ).rows,
      { readOnly: true },
    );
    return new Map(rows.map((r) => [r.name, { attributeId: r.attribute_id, name: r.name, dataType: r.data_type, isHot: r.is_hot }]));
  }
}
