/**
 * Tenants and their API keys.
 *
 * Key format: `atk_<tenant uuid, 32 hex without dashes>_<32 base64url chars>`
 * (24 random bytes). Only sha256(full key) is stored. The tenant id inside the
 * key lets authentication set app.tenant_id first and then look the hash up
 * under row-level security as atlas_app, so even the lookup is tenant-scoped.
 */
import { createHash, randomBytes, randomUUID } from "crypto";
import type { Pool, PoolClient } from "pg";
import { withOperatorTenant, withTenant, withTransaction, WRITER_ROLE } from "./db";

const KEY_PATTERN = /^atk_([0-9a-f]{32})_([A-Za-z0-9_-]{32})$/;

export type UnknownAttributesPolicy = "reject" | "register";

export interface TenantOptions {
  /** What ingest does with an unknown attribute name. Defaults to "reject". */
  unknownAttributes?: UnknownAttributesPolicy;
  /** Live window override, seconds. Defaults to null (the configured default). */
  liveWindowSeconds?: number | null;
  /** Rate limit override, requests/s. Defaults to null (the configured default). */
  rateLimitRps?: number | null;
  /** Retention override, days. Defaults to null (RETENTION_DAYS). */
  retentionDays?: number | null;
  /** A chosen tenant id (tests, imports). Defaults to a random UUID. */
  tenantId?: string;
}

export class TenantExistsError extends Error {
  constructor(public readonly tenantName: string) {
    super(`a tenant named "${tenantName}" already exists`);
    this.name = "TenantExistsError";
  }
}

export interface CreatedTenant {
  tenant_id: string;
  key_id: string;
  /** Shown once; only its hash is stored. */
  api_key: string;
}

export interface TenantRow {
  tenant_id: string;
  name: string;
  unknown_attributes: UnknownAttributesPolicy;
  live_window_seconds: number | null;
  rate_limit_rps: number | null;
  retention_days: number | null;
  deactivated_at: Date | null;
  created_at: Date;
}

/** sha256 of the full key: what api_keys.key_hash holds. */
export function hashApiKey(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

/** A new key for a tenant (pure; not stored). */
export function generateApiKey(tenantId: string): string {
  return `atk_${tenantId.replace(/-/g, "").toLowerCase()}_${randomBytes(24).toString("base64url")}`;
}

/** The tenant a well-formed key claims, or null for anything malformed. Proves nothing: see authenticate(). */
export function parseApiKey(key: string): { tenantId: string } | null {
  const match = KEY_PATTERN.exec(key);
  if (!match) return null;
  const h = match[1];
  return { tenantId: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}` };
}

async function insertKey(client: PoolClient, tenantId: string): Promise<{ key_id: string; api_key: string }> {
  const apiKey = generateApiKey(tenantId);
  const { rows } = await client.query<{ key_id: string }>(
    "INSERT INTO api_keys (tenant_id, key_hash) VALUES ($1, $2) RETURNING key_id",
    [tenantId, hashApiKey(apiKey)],
  );
  return { key_id: rows[0].key_id, api_key: apiKey };
}

/**
 * Creates a tenant and its first API key in one transaction. Runs as the
 * login user (the owner): with the tenant set, FORCE ROW LEVEL SECURITY lets
 * it insert exactly that tenant's rows.
 */
export async function createTenant(pool: Pool, name: string, opts: TenantOptions = {}): Promise<CreatedTenant> {
  const tenantId = opts.tenantId ?? randomUUID();
  return withOperatorTenant(pool, tenantId, async (client) => {
    try {
      await client.query(
        `INSERT INTO tenants (tenant_id, name, unknown_attributes, live_window_seconds, rate_limit_rps)
         VALUES ($1, $2, $3, $4, $5)`,
        [tenantId, name, opts.unknownAttributes ?? "reject", opts.liveWindowSeconds ?? null, opts.rateLimitRps ?? null],
      );
    } catch (err) {
      if ((err as { constraint?: string }).constraint === "tenants_name_key") {
        throw new TenantExistsError(name);
      }
      throw err;
    }
    // Set apart so that databases migrated only up to an older schema (the
    // migration tests build them) can still make tenants.
    if (opts.retentionDays != null) {
      await client.query("UPDATE tenants SET retention_days = $2 WHERE tenant_id = $1", [tenantId, opts.retentionDays]);
    }
    const key = await insertKey(client, tenantId);
    return { tenant_id: tenantId, ...key };
  });
}

/** Another key for an existing tenant (as atlas_app under the tenant). */
export async function createApiKey(pool: Pool, tenantId: string): Promise<{ key_id: string; api_key: string }> {
  return withTenant(pool, tenantId, (client) => insertKey(client, tenantId));
}

/** Revokes a key of the tenant. True when it was active and now is not. */
export async function revokeApiKey(pool: Pool, tenantId: string, keyId: string): Promise<boolean> {
  return withTenant(pool, tenantId, async (client) => {
    const { rowCount } = await client.query(
      "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL",
      [keyId],
    );
    return rowCount === 1;
  });
}

/**
 * The tenant of a presented key, or null when the key is malformed, unknown,
 * revoked, or its tenant is deactivated. The hash is looked up as atlas_app with app.tenant_id set to the
 * tenant the key claims, so a key can only ever match its own tenant's rows.
 */
export async function authenticate(pool: Pool, key: string): Promise<string | null> {
  const parsed = parseApiKey(key);
  if (!parsed) return null;
  return withTenant(
    pool,
    parsed.tenantId,
    async (client) => {
      const { rowCount } = await client.query(
        `SELECT 1 FROM api_keys k JOIN tenants t ON t.tenant_id = k.tenant_id
         WHERE k.tenant_id = $1 AND k.key_hash = $2 AND k.revoked_at IS NULL AND t.deactivated_at IS NULL`,
        [parsed.tenantId, hashApiKey(key)],
      );
      return rowCount === 1 ? parsed.tenantId : null;
    },
    { readOnly: true },
  );
}

/** A tenant's own row (as atlas_app under the tenant), or null. */
export async function getTenant(pool: Pool, tenantId: string): Promise<TenantRow | null> {
  return withTenant(
    pool,
    tenantId,
    async (client) => {
      const { rows } = await client.query<TenantRow>("SELECT * FROM tenants WHERE tenant_id = $1", [tenantId]);
      return rows[0] ?? null;
    },
    { readOnly: true },
  );
}

/** Operator view of every tenant (as atlas_writer, which bypasses row-level security). */
export async function listTenants(pool: Pool): Promise<TenantRow[]> {
  return withTransaction(pool, async (client) => {
    await client.query(`SET LOCAL ROLE ${WRITER_ROLE}`);
    const { rows } = await client.query<TenantRow>("SELECT * FROM tenants ORDER BY created_at, name");
    return rows;
  });
}

/** The id of the tenant with this name, or null (operator lookup, e.g. the demo tenant of `npm start`). */
export async function findTenantIdByName(pool: Pool, name: string): Promise<string | null> {
  return withTransaction(pool, async (client) => {
    await client.query(`SET LOCAL ROLE ${WRITER_ROLE}`);
    const { rows } = await client.query<{ tenant_id: string }>("SELECT tenant_id FROM tenants WHERE name = $1", [name]);
    return rows[0]?.tenant_id ?? null;
  });
}

/**
 * An operator's change to one tenant's row: as the login user (the owner;
 * atlas_app may not update tenants, migration 000006) with the tenant set,
 * so FORCE ROW LEVEL SECURITY still scopes it to that one row.
 */
async function updateTenantRow(pool: Pool, tenantId: string, set: string, params: unknown[]): Promise<boolean> {
  return withOperatorTenant(pool, tenantId, async (client) => {
    const { rowCount } = await client.query(`UPDATE tenants SET ${set} WHERE tenant_id = $1`, [tenantId, ...params]);
    return rowCount === 1;
  });
}

/** Deactivates (keys stop authenticating; data stays) or reactivates a tenant. True when the tenant exists. */
export function setTenantDeactivated(pool: Pool, tenantId: string, deactivated: boolean): Promise<boolean> {
  return updateTenantRow(pool, tenantId, deactivated ? "deactivated_at = coalesce(deactivated_at, now())" : "deactivated_at = NULL", []);
}

/** Sets a tenant's retention override, days (null: back to RETENTION_DAYS). True when the tenant exists. */
export function setTenantRetention(pool: Pool, tenantId: string, days: number | null): Promise<boolean> {
  return updateTenantRow(pool, tenantId, "retention_days = $2", [days]);
}
