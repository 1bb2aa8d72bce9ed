/**
 * History partition maintenance from a service (the batch writer): moves
 * rows out of the default partition, makes partitions ahead, drops those past
 * the retention (atlas_maintain_partitions in migration 000012), and exports
 * what it did as metrics.
 *
 * Runs as the login user, which owns the tables (creating and dropping
 * partitions needs ownership), never under SET ROLE. A short lock_timeout
 * keeps it from queueing writers behind it: on a timeout it simply tries
 * again at the next tick. Concurrent runs (several writer tasks) skip: the
 * function takes a transaction advisory lock (db/README.md argues why that
 * and not pg_cron).
 */
import type { Pool } from "pg";
import { withTransaction, WRITER_ROLE } from "../app/shared/db";
import { gauge } from "../app/shared/http/metrics";
import { log } from "../app/shared/log";

export interface MaintenanceResult {
  created?: number;
  moved_rows?: number;
  dropped?: number;
  /** Rows left in the default partition after the run (should be 0). */
  default_rows?: number;
  skipped?: boolean;
}

export interface MaintenanceOptions {
  /**
   * RETENTION_DAYS: the retention of tenants without their own. Partitions
   * hold every tenant's rows of a day, so a partition is dropped once it is
   * older than the LONGEST retention of any tenant. Null keeps everything.
   */
  retentionDays: number | null;
  /** Partitions made ahead, days. Defaults to 7. */
  premakeDays?: number;
  /** Lock wait before giving up this run, ms. Defaults to 5,000. */
  lockTimeoutMs?: number;
  /**
   * Test-only: the maintenance clock runs this many days ahead of the real
   * one (ATLAS_MAINTENANCE_CLOCK_OFFSET_DAYS). Defaults to 0.
   */
  clockOffsetDays?: number;
}

const lastSuccess = gauge(
  "atlas_partition_maintenance_last_success_timestamp_seconds",
  "Unix time of the last successful history partition maintenance run seen by this process",
);
const aheadDays = gauge("atlas_partitions_ahead_days", "Whole days after today that already have a history partition");
const defaultRows = gauge(
  "atlas_history_default_partition_rows",
  "Rows left in the history's default partition after the last maintenance run (should be 0)",
);

/**
 * The retention partitions are dropped at: the longest of the tenants'
 * (theirs or the default), or the default when there is no tenant.
 */
export async function effectiveRetentionDays(pool: Pool, defaultDays: number | null): Promise<number | null> {
  if (defaultDays === null) return null;
  return withTransaction(pool, async (client) => {
    await client.query(`SET LOCAL ROLE ${WRITER_ROLE}`);
    const { rows } = await client.query<{ days: number | null }>(
      "SELECT max(coalesce(retention_days, $1::int)) AS days FROM tenants",
      [defaultDays],
    );
    return rows[0].days ?? defaultDays;
  });
}

/** One maintenance run, in its own transaction; a failure is also recorded in partition_maintenance_status. */
export async function maintainPartitions(pool: Pool, opts: MaintenanceOptions): Promise<MaintenanceResult> {
  const retention = await effectiveRetentionDays(pool, opts.retentionDays);
  try {
    return await withTransaction(pool, async (client) => {
      await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(opts.lockTimeoutMs ?? 5_000))}`);
      const { rows } = await client.query<{ r: MaintenanceResult }>(
        "SELECT atlas_maintain_partitions($1, $2, make_interval(days => $3)) AS r",
        [retention, opts.premakeDays ?? 7, Math.trunc(opts.clockOffsetDays ?? 0)],
      );
      return rows[0].r;
    });
  } catch (err) {
    await pool
      .query("UPDATE partition_maintenance_status SET last_error = $1, last_error_at = now()", [String((err as Error).message ?? err)])
      .catch(() => undefined);
    throw err;
  }
}

/**
 * The line each successful run logs: infra/monitoring turns its fields into
 * CloudWatch metrics (a log metric filter on the writer's log group) and
 * alarms on them. Renaming it or its fields breaks those alarms.
 */
export const MAINTENANCE_RUN_LOG = "history partition maintenance run";

/** Refreshes the gauges from the database (whoever ran the last maintenance); returns the days ahead. */
export async function refreshMaintenanceMetrics(pool: Pool): Promise<number | undefined> {
  const { rows } = await pool.query<{ success: Date | null; ahead: number; default_rows: string | null }>(
    `SELECT s.last_success_at AS success, atlas_partitions_ahead_days() AS ahead,
            s.last_result ->> 'default_rows' AS default_rows
     FROM partition_maintenance_status s`,
  );
  const row = rows[0];
  if (!row) return undefined;
  if (row.success) lastSuccess.set(row.success.getTime() / 1000);
  aheadDays.set(row.ahead);
  if (row.default_rows !== null) defaultRows.set(Number(row.default_rows));
  return row.ahead;
}

/**
 * Runs maintenance now and then every `intervalMs` (defaults to 1 hour),
 * and refreshes the metrics after each tick. Failures are logged, not thrown
 * (the metrics then show the last success getting older, and the alarm on
 * it fires). Returns a stop function.
 */
export function schedulePartitionMaintenance(
  pool: Pool,
  opts: MaintenanceOptions & { intervalMs?: number; onRun?: (result: MaintenanceResult) => void },
): () => void {
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    let result: MaintenanceResult | undefined;
    try {
      result = await maintainPartitions(pool, opts);
      if ((result.default_rows ?? 0) > 0) {
        log.warn("rows remain in the history's default partition after maintenance", { default_rows: result.default_rows });
      }
      opts.onRun?.(result);
    } catch (err) {
      log.warn("history partition maintenance failed; retrying at the next tick", { error: err });
    }
    try {
      const ahead = await refreshMaintenanceMetrics(pool);
      // A skipped run is another task's run: that task logs it.
      if (result && !result.skipped) log.info(MAINTENANCE_RUN_LOG, { ...result, partitions_ahead_days: ahead });
    } catch (err) {
      log.warn("partition maintenance metrics not refreshed", { error: err });
    } finally {
      running = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), opts.intervalMs ?? 3_600_000);
  timer.unref();
  return () => clearInterval(timer);
}
