/**
 * A tenant's own settings (the tenants row: unknown-attribute policy, live
 * window, request rate, retention), read under the tenant's RLS scope and cached per
 * process, for the ingest and query services alike.
 */
import { withTenant, type Pool } from "./db";

export interface TenantSettings {
  unknownAttributes: "reject" | "register";
  liveWindowSeconds: number | null;
  rateLimitRps: number | null;
  /** Retention override, days (null: RETENTION_DAYS). */
  retentionDays: number | null;
}

const SETTINGS_TTL_MS = 30_000;

/** The tenant row's settings, cached for 30 s per process (an operator's change takes effect within that). */
export class TenantSettingsCache {
  private readonly cache = new Map<string, { settings: TenantSettings; expires: number }>();
  constructor(private readonly pool: Pool) {}

  async get(tenantId: string): Promise<TenantSettings> {
    const hit = this.cache.get(tenantId);
    if (hit && hit.expires > Date.now()) return hit.settings;
    const row = await withTenant(
      this.pool,
      tenantId,
      async (c) =>
        (
          await c.query<{
            unknown_attributes: "reject" | "register";
            live_window_seconds: number | null;
            rate_limit_rps: number | null;
            retention_days: number | null;
          }>(
            "SELECT unknown_attributes, live_window_seconds, rate_limit_rps, retention_days FROM tenants",
          )
        ).rows[0],
      { readOnly: true },
    );
    const settings: TenantSettings = {
      unknownAttributes: row?.unknown_attributes ?? "reject",
      liveWindowSeconds: row?.live_window_seconds ?? null,
      rateLimitRps: row?.rate_limit_rps ?? null,
      retentionDays: row?.retention_days ?? null,
    };
    this.cache.set(tenantId, { settings, expires: Date.now() + SETTINGS_TTL_MS });
    return settings;
  }
}

