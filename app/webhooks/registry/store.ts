/** The endpoints' and deliveries' SQL of the API, each in the caller's tenant scope (row-level security). */
import { withTenant, type Pool } from "../../shared/db";
import type { EndpointInput, EndpointPatch } from "./validate";

export interface EndpointRow {
  endpoint_id: string;
  url: string;
  event_types: string[];
  filter_entity_type: string | null;
  filter_attributes: string[] | null;
  description: string | null;
  enabled: boolean;
  disabled_reason: string | null;
  disabled_at: Date | null;
  previous_expires_at: Date | null;
  failing_since: Date | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS =
  "endpoint_id, url, event_types, filter_entity_type, filter_attributes, description, enabled, disabled_reason, disabled_at, previous_expires_at, failing_since, created_at, updated_at";

/** Another tenant's id and a malformed one are answered as nonexistent: only a uuid reaches SQL. */
export const isUuid = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

export async function insertEndpoint(pool: Pool, tenantId: string, id: string, input: EndpointInput, sealed: string): Promise<EndpointRow> {
  return withTenant(pool, tenantId, async (c) =>
    (await c.query<EndpointRow>(
      `INSERT INTO webhook_endpoints (endpoint_id, tenant_id, url, event_types, filter_entity_type, filter_attributes, description, secret_sealed)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
      [id, tenantId, input.url, input.events, input.filter.entity_type, input.filter.attributes, input.description, sealed],
    )).rows[0],
  );
}

export async function listEndpoints(pool: Pool, tenantId: string): Promise<EndpointRow[]> {
  return withTenant(pool, tenantId, async (c) => (await c.query<EndpointRow>(`SELECT ${COLUMNS} FROM webhook_endpoints ORDER BY created_at, endpoint_id`)).rows, { readOnly: true });
}

export async function getEndpoint(pool: Pool, tenantId: string, id: string): Promise<EndpointRow | undefined> {
  if (!isUuid(id)) return undefined;
  return withTenant(pool, tenantId, async (c) => (await c.query<EndpointRow>(`SELECT ${COLUMNS} FROM webhook_endpoints WHERE endpoint_id = $1`, [id])).rows[0], { readOnly: true });
}

export async function updateEndpoint(pool: Pool, tenantId: string, id: string, p: EndpointPatch): Promise<EndpointRow | undefined> {
  if (!isUuid(id)) return undefined;
  return withTenant(pool, tenantId, async (c) =>
    (await c.query<EndpointRow>(
      `UPDATE webhook_endpoints SET
         url = coalesce($2, url),
         event_types = coalesce($3, event_types),
         filter_entity_type = CASE WHEN $4 THEN $5 ELSE filter_entity_type END,
         filter_attributes = CASE WHEN $4 THEN $6::text[] ELSE filter_attributes END,
         description = CASE WHEN $7 THEN $8 ELSE description END,
         enabled = coalesce($9, enabled),
         -- Re-enabling starts a clean health record.
         disabled_reason = CASE WHEN $9 IS TRUE THEN NULL ELSE disabled_reason END,
         disabled_at = CASE WHEN $9 IS TRUE THEN NULL WHEN $9 IS FALSE AND enabled THEN now() ELSE disabled_at END,
         failing_since = CASE WHEN $9 IS TRUE THEN NULL ELSE failing_since END,
         updated_at = now()
       WHERE endpoint_id = $1 RETURNING ${COLUMNS}`,
      [id, p.url ?? null, p.events ?? null, p.filter !== undefined, p.filter?.entity_type ?? null, p.filter?.attributes ?? null,
        p.description !== undefined, p.description ?? null, p.enabled ?? null],
    )).rows[0],
  );
}

export async function deleteEndpoint(pool: Pool, tenantId: string, id: string): Promise<boolean> {
  if (!isUuid(id)) return false;
  return withTenant(pool, tenantId, async (c) => ((await c.query("DELETE FROM webhook_endpoints WHERE endpoint_id = $1", [id])).rowCount ?? 0) === 1);
}

/** The new secret signs from now on; the current one keeps signing beside it for `overlapHours`. */
export async function rotateSecret(pool: Pool, tenantId: string, id: string, sealed: string, overlapHours: number): Promise<EndpointRow | undefined> {
  if (!isUuid(id)) return undefined;
  return withTenant(pool, tenantId, async (c) =>
    (await c.query<EndpointRow>(
      `UPDATE webhook_endpoints SET previous_secret_sealed = secret_sealed, previous_expires_at = now() + make_interval(hours => $3),
              secret_sealed = $2, updated_at = now()
       WHERE endpoint_id = $1 RETURNING ${COLUMNS}`,
      [id, sealed, overlapHours],
    )).rows[0],
  );
}

export interface DeliveryRow {
  delivery_id: string;
  event_type: string;
  entity_id: string | null;
  state: string;
  attempts: number;
  committed_at: Date;
  next_attempt_at: Date;
  last_status: number | null;
  last_error: string | null;
  delivered_at: Date | null;
  attempt_log: Array<{ attempt: number; attempted_at: string; status: number | null; latency_ms: number; error: string | null }>;
}

const DELIVERY_SQL = `
  SELECT d.delivery_id, d.event_type, d.entity_id, d.state, d.attempts, d.committed_at, d.next_attempt_at, d.last_status, d.last_error, d.delivered_at,
         coalesce((SELECT jsonb_agg(jsonb_build_object('attempt', a.attempt, 'attempted_at', atlas_iso(a.attempted_at), 'status', a.status,
                                                        'latency_ms', a.latency_ms, 'error', a.error) ORDER BY a.attempt)
                   FROM webhook_attempts a WHERE a.delivery_id = d.delivery_id), '[]'::jsonb) AS attempt_log
  FROM webhook_deliveries d`;

export async function listDeliveries(pool: Pool, tenantId: string, endpointId: string, limit: number, state?: string): Promise<DeliveryRow[]> {
  return withTenant(pool, tenantId, async (c) =>
    (await c.query<DeliveryRow>(`${DELIVERY_SQL} WHERE d.endpoint_id = $1 AND ($3::text IS NULL OR d.state = $3) ORDER BY d.seq DESC LIMIT $2`, [endpointId, limit, state ?? null])).rows,
  { readOnly: true });
}

/** Makes a delivery due now (whatever its state); undefined when the endpoint has no such delivery. */
export async function retryDelivery(pool: Pool, tenantId: string, endpointId: string, deliveryId: string): Promise<DeliveryRow | undefined> {
  if (!isUuid(deliveryId)) return undefined;
  return withTenant(pool, tenantId, async (c) => {
    const updated = await c.query(
      `UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = now(), leased_until = NULL
       WHERE endpoint_id = $1 AND delivery_id = $2 AND (state <> 'pending' OR leased_until IS NULL)`,
      [endpointId, deliveryId],
    );
    const row = (await c.query<DeliveryRow>(`${DELIVERY_SQL} WHERE d.endpoint_id = $1 AND d.delivery_id = $2`, [endpointId, deliveryId])).rows[0];
    return updated.rowCount === 0 && !row ? undefined : row;
  });
}
