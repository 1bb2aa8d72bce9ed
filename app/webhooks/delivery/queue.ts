/**
 * The delivery queue's SQL (the worker runs as atlas_writer: every tenant's
 * deliveries). A delivery is claimed by a lease (a task that dies mid-send
 * lets it expire and the message is sent again: at least once, and the
 * receiver dedupes by webhook-id), only when it heads its (endpoint, entity)
 * line (per-entity order), and at most `free` per endpoint (bounded
 * concurrency: a slow endpoint fills its own slots, never another's).
 */
import { WRITER_ROLE, withTransaction, type Pool, type PoolClient } from "../../shared/db";

export interface ClaimedDelivery {
  delivery_id: string;
  endpoint_id: string;
  tenant_id: string;
  entity_id: string | null;
  event_type: string;
  data: Record<string, unknown>;
  committed_at: Date;
  attempts: number;
}

export interface EndpointTarget {
  endpoint_id: string;
  url: string;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_valid: boolean;
}

export const asWorker = <T>(pool: Pool, fn: (c: PoolClient) => Promise<T>) =>
  withTransaction(pool, async (c) => {
    await c.query(`SET LOCAL ROLE ${WRITER_ROLE}`);
    return fn(c);
  });

const CLAIM_SQL = `
WITH heads AS (
  SELECT DISTINCT ON (d.endpoint_id, d.entity_id) d.delivery_id, d.endpoint_id, d.seq, d.next_attempt_at, d.leased_until
  FROM webhook_deliveries d
  WHERE d.state = 'pending'
  ORDER BY d.endpoint_id, d.entity_id, d.seq
), ready AS (
  SELECT h.delivery_id, h.endpoint_id, h.seq, row_number() OVER (PARTITION BY h.endpoint_id ORDER BY h.seq) AS rn
  FROM heads h
  JOIN webhook_endpoints w ON w.endpoint_id = h.endpoint_id AND w.enabled
  WHERE h.next_attempt_at <= now() AND (h.leased_until IS NULL OR h.leased_until < now())
), picked AS (
  SELECT r.delivery_id
  FROM ready r
  LEFT JOIN unnest($1::uuid[], $2::int[]) AS b(endpoint_id, free) ON b.endpoint_id = r.endpoint_id
  WHERE r.rn <= coalesce(b.free, $3::int)
  ORDER BY r.seq
  LIMIT $4
)
UPDATE webhook_deliveries d SET leased_until = now() + make_interval(secs => $5)
FROM picked p
WHERE d.delivery_id = p.delivery_id AND d.state = 'pending' AND (d.leased_until IS NULL OR d.leased_until < now())
RETURNING d.delivery_id, d.endpoint_id, d.tenant_id, d.entity_id, d.event_type, d.data, d.committed_at, d.attempts`;

export async function claimDeliveries(
  pool: Pool,
  opts: { busy: Map<string, number>; maxPerEndpoint: number; limit: number; leaseSeconds: number },
): Promise<{ deliveries: ClaimedDelivery[]; endpoints: Map<string, EndpointTarget> }> {
  const ids = [...opts.busy.keys()];
  const free = ids.map((id) => Math.max(0, opts.maxPerEndpoint - (opts.busy.get(id) ?? 0)));
  return asWorker(pool, async (c) => {
    const deliveries = (await c.query<ClaimedDelivery>(CLAIM_SQL, [ids, free, opts.maxPerEndpoint, opts.limit, opts.leaseSeconds])).rows;
    const endpoints = new Map<string, EndpointTarget>();
    if (deliveries.length > 0) {
      const rows = await c.query<EndpointTarget>(
        `SELECT endpoint_id, url, secret_sealed, previous_secret_sealed, coalesce(previous_expires_at > now(), false) AS previous_valid
         FROM webhook_endpoints WHERE endpoint_id = ANY($1::uuid[])`,
        [[...new Set(deliveries.map((d) => d.endpoint_id))]],
      );
      for (const r of rows.rows) endpoints.set(r.endpoint_id, r);
    }
    return { deliveries, endpoints };
  });
}

export type Verdict =
  | { kind: "succeeded" }
  | { kind: "retry"; delayMs: number }
  | { kind: "exhausted" }
  | { kind: "gone" };

export interface AttemptRecord {
  status?: number;
  latencyMs: number;
  error?: string;
}

/**
 * Records one attempt and its consequence in one transaction: the attempt
 * row, the delivery's state, and the endpoint's health (failing_since; a 410
 * or 5 days of failures disable it and tell the tenant's other endpoints).
 * Returns whether the endpoint was disabled by this attempt.
 */
export async function recordAttempt(pool: Pool, d: ClaimedDelivery, a: AttemptRecord, v: Verdict, disableAfterMs: number): Promise<boolean> {
  return asWorker(pool, async (c) => {
    await c.query(
      `INSERT INTO webhook_attempts (delivery_id, attempt, tenant_id, attempted_at, status, latency_ms, error)
       VALUES ($1, $2, $3, clock_timestamp() - make_interval(secs => $5::float8 / 1000), $4, $5, left($6, 1024))
       ON CONFLICT DO NOTHING`,
      [d.delivery_id, d.attempts + 1, d.tenant_id, a.status ?? null, a.latencyMs, a.error ?? null],
    );
    const state = v.kind === "succeeded" ? "succeeded" : v.kind === "retry" ? "pending" : "failed";
    await c.query(
      `UPDATE webhook_deliveries SET attempts = attempts + 1, state = $2, leased_until = NULL, last_status = $3, last_error = left($4, 1024),
              last_attempt_at = clock_timestamp(), next_attempt_at = clock_timestamp() + make_interval(secs => $5::float8 / 1000),
              delivered_at = CASE WHEN $2 = 'succeeded' THEN clock_timestamp() END
       WHERE delivery_id = $1`,
      [d.delivery_id, state, a.status ?? null, a.error ?? null, v.kind === "retry" ? v.delayMs : 0],
    );
    if (v.kind === "succeeded") {
      await c.query("UPDATE webhook_endpoints SET failing_since = NULL WHERE endpoint_id = $1 AND failing_since IS NOT NULL", [d.endpoint_id]);
      return false;
    }
    const { rows } = await c.query<{ failing_ms: number }>(
      `UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, clock_timestamp()) WHERE endpoint_id = $1
       RETURNING extract(epoch FROM clock_timestamp() - failing_since) * 1000 AS failing_ms`,
      [d.endpoint_id],
    );
    const reason =
      v.kind === "gone" ? "the receiver answered 410 Gone"
      : rows[0] && Number(rows[0].failing_ms) >= disableAfterMs ? `every attempt failed for ${Math.round(disableAfterMs / 86_400_000)} days`
      : undefined;
    if (!reason) return false;
    await disableEndpoint(c, d.endpoint_id, reason);
    return true;
  });
}

/** Disables an endpoint and enqueues `endpoint.disabled` on the tenant's other endpoints that subscribe to it. */
async function disableEndpoint(c: PoolClient, endpointId: string, reason: string): Promise<void> {
  await c.query(
    `WITH off AS (
       UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, disabled_at = clock_timestamp()
       WHERE endpoint_id = $1 AND enabled
       RETURNING tenant_id, endpoint_id, url, disabled_at
     )
     INSERT INTO webhook_deliveries (tenant_id, endpoint_id, entity_id, event_type, data, committed_at)
     SELECT off.tenant_id, w.endpoint_id, NULL, 'endpoint.disabled',
            jsonb_build_object('endpoint_id', off.endpoint_id, 'url', off.url, 'reason', $2::text, 'disabled_at', atlas_iso(off.disabled_at)),
            clock_timestamp()
     FROM off JOIN webhook_endpoints w
       ON w.tenant_id = off.tenant_id AND w.endpoint_id <> off.endpoint_id AND w.enabled AND 'endpoint.disabled' = ANY (w.event_types)`,
    [endpointId, reason],
  );
}

/** Pending deliveries of the deepest queues, for the queue-depth gauge. */
export async function queueDepths(pool: Pool, limit = 200): Promise<Array<{ endpoint_id: string; n: number }>> {
  return asWorker(pool, async (c) =>
    (await c.query<{ endpoint_id: string; n: number }>(
      `SELECT endpoint_id, count(*)::int AS n FROM webhook_deliveries WHERE state = 'pending' GROUP BY endpoint_id ORDER BY n DESC LIMIT $1`,
      [limit],
    )).rows,
  );
}
