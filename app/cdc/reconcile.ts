/**
 * Reconciliation of the warehouse against the primary: per tenant and UTC
 * day, the number of readings in entity_values_ts (primary) and in
 * fact_readings (warehouse), and a checksum of their contents. A count
 * difference is a lost, doubled or stray row; equal counts with different
 * checksums are rows whose value (or time) differs.
 *
 * In-flight data is not a difference: before counting, it notes the primary's
 * clock and waits (bounded) until the warehouse watermark passes it, so
 * everything committed before the count started has been loaded. Writes that
 * keep arriving during the count can still show up on today's row; run it on
 * past days (--until) for an exact answer on a busy system. The scheduled run
 * (scheduleReconcile) instead leaves out rows received after the watermark
 * less a margin, on both sides.
 *
 * Days older than the retention window are not compared: dropping a history
 * partition is not replicated (logical decoding does not publish DROP), and
 * the warehouse keeps them on purpose.
 */
import type { Pool, PoolClient } from "../shared/db";
import { createPool, withTransaction } from "../shared/db";
import { gauge } from "../shared/http/metrics";
import { log } from "../shared/log";
import { readWarehouseLag, readWarehouseWatermark } from "./watermark";

export interface ReconcileOptions {
  /** Only this tenant. */
  tenantId?: string;
  /** First UTC day compared (YYYY-MM-DD). */
  since: string;
  /** Day after the last compared (YYYY-MM-DD, exclusive). Defaults to no bound. */
  until?: string;
  /** Only readings received (received_at) before this, on both sides. Defaults to no bound. */
  receivedBefore?: Date;
  /** Longest wait for the warehouse watermark to pass the start, ms. 0: do not wait. Defaults to 60 s. */
  waitMs?: number;
}

export interface DayDifference {
  tenant_id: string;
  day: string;
  primary: number;
  warehouse: number;
  /** count: the row counts differ; checksum: same count, different rows or values. */
  why: "count" | "checksum";
}

export interface ReconcileResult {
  differences: DayDifference[];
  /** Tenant-days compared (present on either side). */
  compared: number;
  primaryTotal: number;
  warehouseTotal: number;
  /** Whether the warehouse watermark passed the start before counting. */
  caughtUp: boolean;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface DayStats {
  n: number;
  sum: bigint;
}

/** SQL expressions of one side's columns, for the checksum. */
interface ChecksumColumns {
  num: string;
  text: string;
  bool: string;
  tsValue: string;
}

/**
 * The checksum of a group of readings: the sum over its rows of a number
 * drawn from md5(entity|attribute|ts|value). One expression for both sides,
 * valid on PostgreSQL and Redshift alike: md5, substr, translate, to_char
 * with US (microseconds) and DECIMAL casts exist on both, whereas hashtext
 * (PostgreSQL) and strtol (Redshift) exist on one only. The first 15 hex
 * digits go through translate (a-f → 0-5) to decimal digits: lossy, still a
 * hash for telling rows apart. Values are compared as the warehouse stores
 * them: numbers as the double rounded to 6 decimals (int too: value_num is a
 * double), NaN/±Infinity as absent (the loader stores NULL), times in UTC to
 * the microsecond. Known blind spots: numbers past 1e30 are compared by
 * count only, and Redshift may round a double with more than 15 significant
 * digits differently from PostgreSQL.
 */
function checksumSql(c: ChecksumColumns): string {
  const utc = (e: string) => `to_char(${e} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')`;
  const value = `CASE
      WHEN ${c.num} IS NOT NULL THEN 'n' || CASE WHEN abs(${c.num}) < 1e30 THEN CAST(CAST(${c.num} AS decimal(38,6)) AS varchar) ELSE 'big' END
      WHEN ${c.text} IS NOT NULL THEN 's' || ${c.text}
      WHEN ${c.bool} IS NOT NULL THEN CASE WHEN ${c.bool} THEN 'bt' ELSE 'bf' END
      WHEN ${c.tsValue} IS NOT NULL THEN 't' || ${utc(c.tsValue)}
      ELSE '-' END`;
  const row = `CAST(entity_id AS varchar) || '|' || CAST(attribute_id AS varchar) || '|' || ${utc("ts")} || '|' || ${value}`;
  return `sum(CAST(translate(substr(md5(${row}), 1, 15), 'abcdef', '012345') AS decimal(38,0)))`;
}

const PRIMARY_CHECKSUM = checksumSql({
  num: `coalesce(CAST(value_int AS double precision), CASE WHEN value_decimal IN ('NaN', 'Infinity', '-Infinity') THEN NULL ELSE value_decimal END)`,
  text: "value_string",
  bool: "value_bool",
  tsValue: "value_ts",
});
const WAREHOUSE_CHECKSUM = checksumSql({ num: "value_num", text: "value_text", bool: "value_bool", tsValue: "value_ts" });

type Row = { tenant_id: string; day: string; n: string; checksum: string | null };
const toMap = (rows: Row[]) => new Map<string, DayStats>(rows.map((r) => [`${r.tenant_id}|${r.day}`, { n: Number(r.n), sum: BigInt(r.checksum ?? 0) }]));

/** On the primary across tenants: as a role that bypasses row-level security. */
async function primaryStats(client: PoolClient, o: ReconcileOptions): Promise<Map<string, DayStats>> {
  await client.query("SET TRANSACTION READ ONLY");
  const { rows: me } = await client.query<{ bypass: boolean }>(
    "SELECT rolsuper OR rolbypassrls AS bypass FROM pg_roles WHERE rolname = current_user",
  );
  // RDS: the master user is no superuser; the writer role bypasses RLS (or has
  // a permissive policy, db/migrations 000004) and may read the history.
  if (!me[0]?.bypass) await client.query("SET LOCAL ROLE atlas_writer");
  const { rows } = await client.query<Row>(
    `SELECT tenant_id::text AS tenant_id, to_char((ts AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, count(*) AS n,
       ${PRIMARY_CHECKSUM} AS checksum
     FROM entity_values_ts
     WHERE ts >= ($1::date)::timestamp AT TIME ZONE 'UTC'
       AND ($2::date IS NULL OR ts < ($2::date)::timestamp AT TIME ZONE 'UTC')
       AND ($3::uuid IS NULL OR tenant_id = $3::uuid)
       AND ($4::timestamptz IS NULL OR received_at < $4::timestamptz)
     GROUP BY 1, 2`,
    [o.since, o.until ?? null, o.tenantId ?? null, o.receivedBefore ?? null],
  );
  return toMap(rows);
}

async function warehouseStats(wh: Pool, o: ReconcileOptions): Promise<Map<string, DayStats>> {
  const { rows } = await wh.query<Row>(
    `SELECT tenant_id, to_char(day, 'YYYY-MM-DD') AS day, count(*) AS n, ${WAREHOUSE_CHECKSUM} AS checksum
     FROM fact_readings
     WHERE day >= $1::date AND ($2::date IS NULL OR day < $2::date) AND ($3::varchar IS NULL OR tenant_id = $3::varchar)
       AND ($4::timestamptz IS NULL OR received_at < $4::timestamptz)
     GROUP BY 1, 2`,
    [o.since, o.until ?? null, o.tenantId?.toLowerCase() ?? null, o.receivedBefore ?? null],
  );
  return toMap(rows);
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

  const [p, w] = await Promise.all([withTransaction(primary, (c) => primaryStats(c, o)), warehouseStats(warehouse, o)]);
  const keys = new Set([...p.keys(), ...w.keys()]);
  const differences: DayDifference[] = [];
  let primaryTotal = 0;
  let warehouseTotal = 0;
  const none: DayStats = { n: 0, sum: 0n };
  for (const key of keys) {
    const [tenant_id, day] = key.split("|");
    const a = p.get(key) ?? none;
    const b = w.get(key) ?? none;
    primaryTotal += a.n;
    warehouseTotal += b.n;
    if (a.n !== b.n) differences.push({ tenant_id, day, primary: a.n, warehouse: b.n, why: "count" });
    else if (a.sum !== b.sum) differences.push({ tenant_id, day, primary: a.n, warehouse: b.n, why: "checksum" });
  }
  differences.sort((x, y) => x.tenant_id.localeCompare(y.tenant_id) || x.day.localeCompare(y.day));
  return { differences, compared: keys.size, primaryTotal, warehouseTotal, caughtUp };
}

/**
 * Every 15 minutes: a run reads two days of history on the primary, so not
 * much more often; a difference shows within two runs of appearing.
 */
export const RECONCILE_INTERVAL_MS = 15 * 60_000;
/** Today and yesterday (UTC): where live data lands and where a loss would be recent. */
const SCHEDULE_DAYS = 2;
/**
 * Readings received within this long before the watermark are left out: they
 * may still be queued between the API and the primary (the batch writer's
 * topic), so the warehouse cannot have them yet. A writer further behind is
 * its own alarm (consumer lag); a difference it causes clears on a later run.
 */
const SETTLE_MS = 5 * 60_000;

const scheduled = {
  differences: gauge("atlas_reconcile_differences", "Tenant-days whose count or checksum differs between primary and warehouse (last scheduled reconcile)"),
  lastRun: gauge("atlas_reconcile_last_run_timestamp_seconds", "When the last scheduled reconcile completed (unix seconds)"),
};

export interface ReconcileScheduleOptions {
  /** The primary (DATABASE_URL). */
  databaseUrl: string;
  /** Defaults to RECONCILE_INTERVAL_MS. */
  intervalMs?: number;
  /** Only this tenant (tests). Defaults to all. */
  tenantId?: string;
  /** Called after each run (tests). */
  onRun?: (r: ReconcileResult) => void;
}

/**
 * Reconciles the last SCHEDULE_DAYS days every interval (the first run one
 * interval after the start) and sets atlas_reconcile_differences. Runs never
 * overlap; stop() waits for the one in progress.
 */
export function scheduleReconcile(o: ReconcileScheduleOptions & { warehouse: Pool; group: string }): { stop(): Promise<void> } {
  const primary = createPool(o.databaseUrl, "cdc-reconcile", { max: 1, statementTimeoutMs: 600_000 });
  const intervalMs = o.intervalMs ?? RECONCILE_INTERVAL_MS;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;

  const run = async () => {
    // This loader's own watermark: everything it committed before is loaded.
    const lag = await readWarehouseLag(o.warehouse, o.group);
    if (lag === null) return; // nothing loaded yet: nothing to compare
    const receivedBefore = new Date(Date.now() - lag * 1000 - SETTLE_MS);
    const since = new Date(Date.now() - (SCHEDULE_DAYS - 1) * 86_400_000).toISOString().slice(0, 10);
    const r = await reconcile(primary, o.warehouse, { since, receivedBefore, tenantId: o.tenantId, waitMs: 0 });
    scheduled.differences.set(r.differences.length);
    scheduled.lastRun.set(Date.now() / 1000);
    // One line per run (a log metric filter can alarm on it where nothing scrapes /metrics).
    log.info("cdc reconcile", {
      since, received_before: receivedBefore.toISOString(), compared: r.compared, differences: r.differences.length,
      primary_total: r.primaryTotal, warehouse_total: r.warehouseTotal, first: r.differences.slice(0, 10),
    });
    o.onRun?.(r);
  };
  const tick = () => {
    timer = setTimeout(() => {
      running = run()
        .catch((err) => log.error("cdc reconcile failed", { error: err }))
        .finally(() => {
          if (!stopped) tick();
        });
    }, intervalMs);
    timer.unref();
  };
  tick();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      await primary.end();
    },
  };
}
