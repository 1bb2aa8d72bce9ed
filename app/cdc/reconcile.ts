/**
 * Reconciliation of the warehouse against the primary: per tenant and UTC
 * day, the number of readings in entity_values_ts (primary) and in
 * fact_readings (warehouse). Any difference is a lost, doubled or stray row.
 *
 * In-flight data is not a difference: before counting, it notes the primary's
 * clock and waits (bounded) until the warehouse watermark passes it, so
 * everything committed before the count started has been loaded. Writes that
 * keep arriving during the count can still show up on today's row; run it on
 * past days (--until) for an exact answer on a busy system.
 *
 * Days older than the retention window are not compared: dropping a history
 * partition is not replicated (logical decoding does not publish DROP), and
 * the warehouse keeps them on purpose.
 */
import type { Pool, PoolClient } from "../shared/db";
import { withTransaction } from "../shared/db";
import { readWarehouseWatermark } from "./watermark";

export interface ReconcileOptions {
  /** Only this tenant. */
  tenantId?: string;
  /** First UTC day compared (YYYY-MM-DD). */
  since: string;
  /** Day after the last compared (YYYY-MM-DD, exclusive). Defaults to no bound. */
  until?: string;
  /** Longest wait for the warehouse watermark to pass the start, ms. 0: do not wait. Defaults to 60 s. */
  waitMs?: number;
}

export interface DayCount {
  tenant_id: string;
  day: string;
  primary: number;
  warehouse: number;
}

export interface ReconcileResult {
  differences: DayCount[];
  /** Tenant-days compared (present on either side). */
  compared: number;
  primaryTotal: number;
  warehouseTotal: number;
  /** Whether the warehouse watermark passed the start before counting. */
  caughtUp: boolean;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Counts on the primary across tenants: as a role that bypasses row-level security. */
async function primaryCounts(client: PoolClient, o: ReconcileOptions): Promise<Map<string, number>> {
  await client.query("SET TRANSACTION READ ONLY");
  const { rows: me } = await client.query<{ bypass: boolean }>(
    "SELECT rolsuper OR rolbypassrls AS bypass FROM pg_roles WHERE rolname = current_user",
  );
  // RDS: the master user is no superuser; the writer role bypasses RLS (or has
  // a permissive policy, db/migrations 000004) and may read the history.
  if (!me[0]?.bypass) await client.query("SET LOCAL ROLE atlas_writer");
  const { rows } = await client.query<{ tenant_id: string; day: string; n: string }>(
    `SELECT tenant_id::text AS tenant_id, to_char((ts AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, count(*) AS n
     FROM entity_values_ts
     WHERE ts >= ($1::date)::timestamp AT TIME ZONE 'UTC'
       AND ($2::date IS NULL OR ts < ($2::date)::timestamp AT TIME ZONE 'UTC')
       AND ($3::uuid IS NULL OR tenant_id = $3::uuid)
     GROUP BY 1, 2`,
    [o.since, o.until ?? null, o.tenantId ?? null],
  );
  return new Map(rows.map((r) => [`${r.tenant_id}|${r.day}`, Number(r.n)]));
}

async function warehouseCounts(wh: Pool, o: ReconcileOptions): Promise<Map<string, number>> {
  const { rows } = await wh.query<{ tenant_id: string; day: string; n: string }>(
    `SELECT tenant_id, to_char(day, 'YYYY-MM-DD') AS day, count(*) AS n
     FROM fact_readings
     WHERE day >= $1::date AND ($2::date IS NULL OR day < $2::date) AND ($3::varchar IS NULL OR tenant_id = $3::varchar)
     GROUP BY 1, 2`,
    [o.since, o.until ?? null, o.tenantId?.toLowerCase() ?? null],
  );
  return new Map(rows.map((r) => [`${r.tenant_id}|${r.day}`, Number(r.n)]));
}

export async function reconcile(primary: Pool, warehouse: Pool, o: ReconcileOptions): Promise<ReconcileResult> {
  if (!DAY.test(o.since) || (o.until !== undefined && !DAY.test(o.until))) throw new Error("since/until must be YYYY-MM-DD");
  if (o.tenantId !== undefined && !UUID.test(o.tenantId)) throw new Error(`not a tenant id: ${o.tenantId}`);

  const { rows } = await primary.query<{ now: Date }>("SELECT clock_timestamp() AS now");
  const start = rows[0].now;
  let caughtUp = false;
  const deadline = Date.now() + (o.waitMs ?? 60_000);
  for (;;) {
    const watermark = await readWarehouseWatermark(warehouse);
    if (watermark !== null && watermark >= start) {
      caughtUp = true;
      break;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }

  const [p, w] = await Promise.all([withTransaction(primary, (c) => primaryCounts(c, o)), warehouseCounts(warehouse, o)]);
  const keys = new Set([...p.keys(), ...w.keys()]);
  const differences: DayCount[] = [];
  let primaryTotal = 0;
  let warehouseTotal = 0;
  for (const key of keys) {
    const [tenant_id, day] = key.split("|");
    const a = p.get(key) ?? 0;
    const b = w.get(key) ?? 0;
    primaryTotal += a;
    warehouseTotal += b;
    if (a !== b) differences.push({ tenant_id, day, primary: a, warehouse: b });
  }
  differences.sort((x, y) => x.tenant_id.localeCompare(y.tenant_id) || x.day.localeCompare(y.day));
  return { differences, compared: keys.size, primaryTotal, warehouseTotal, caughtUp };
}
