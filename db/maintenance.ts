/**
 * History partition maintenance from a service (the batch writer): moves
 * rows out of the default partition, makes partitions ahead, drops those past
 * the retention (atlas_maintain_partitions in migration 000003).
 *
 * Runs as the login user, which owns the tables (creating and dropping
 * partitions needs ownership), never under SET ROLE. A short lock_timeout
 * keeps it from queueing writers behind it: on a timeout it simply tries
 * again at the next tick. Concurrent runs (several writer tasks) skip.
 */
import type { Pool } from "pg";
import { log } from "../app/shared/log";

export interface MaintenanceResult {
  created?: number;
  moved_rows?: number;
  dropped?: number;
  skipped?: boolean;
}

export interface MaintenanceOptions {
  /** History retention, days (RETENTION_DAYS). Null keeps everything. */
  retentionDays: number | null;
  /** Partitions made ahead, days. Defaults to 7. */
  premakeDays?: number;
  /** Lock wait before giving up this run, ms. Defaults to 5,000. */
  lockTimeoutMs?: number;
}

/** One maintenance run, in its own transaction. */
export async function maintainPartitions(pool: Pool, opts: MaintenanceOptions): Promise<MaintenanceResult> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(opts.lockTimeoutMs ?? 5_000))}`);
    const { rows } = await client.query<{ r: MaintenanceResult }>("SELECT atlas_maintain_partitions($1, $2) AS r", [
      opts.retentionDays,
      opts.premakeDays ?? 7,
    ]);
    await client.query("COMMIT");
    return rows[0].r;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Runs maintenance now and then every `intervalMs` (defaults to 1 hour).
 * Failures are logged, not thrown. Returns a stop function.
 */
export function schedulePartitionMaintenance(
  pool: Pool,
  opts: MaintenanceOptions & { intervalMs?: number },
): () => void {
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const result = await maintainPartitions(pool, opts);
      if (!result.skipped && ((result.created ?? 0) > 0 || (result.moved_rows ?? 0) > 0 || (result.dropped ?? 0) > 0)) {
        log.info("history partitions maintained", { ...result });
      }
    } catch (err) {
      log.warn("history partition maintenance failed; retrying at the next tick", { error: err });
    } finally {
      running = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), opts.intervalMs ?? 3_600_000);
  timer.unref();
  return () => clearInterval(timer);
}
