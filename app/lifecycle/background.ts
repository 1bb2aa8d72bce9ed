/**
 * The lifecycle work that runs by itself in the batch writer (and in
 * `npm start`): partition maintenance and retention on its interval, and the
 * deletion job runner. Several writer tasks may run it: maintenance runs once
 * at a time (an advisory lock), each job in exactly one task (SKIP LOCKED).
 */
import type { Redis } from "ioredis";
import { schedulePartitionMaintenance } from "../../db/maintenance";
import type { AtlasConfig } from "../shared/config";
import type { Pool } from "../shared/db";
import { startJobRunner } from "./job-runner";

/**
 * Test-only (not a platform setting; infra never sets it): the maintenance
 * clock runs this many whole days ahead of the real one, so a test can watch
 * partitions appear ahead and expire without waiting for days to pass.
 */
export const CLOCK_OFFSET_ENV = "ATLAS_MAINTENANCE_CLOCK_OFFSET_DAYS";

export function maintenanceClockOffsetDays(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[CLOCK_OFFSET_ENV];
  if (raw === undefined || raw === "") return 0;
  if (!/^-?\d{1,5}$/.test(raw)) throw new Error(`${CLOCK_OFFSET_ENV} must be a whole number of days, got "${raw}"`);
  return Number(raw);
}

export function startLifecycle(config: AtlasConfig, pool: Pool, redis?: Redis): () => Promise<void> {
  const stopMaintenance = schedulePartitionMaintenance(pool, {
    retentionDays: config.RETENTION_DAYS,
    intervalMs: config.PARTITION_MAINTENANCE_INTERVAL_SECONDS * 1000,
    clockOffsetDays: maintenanceClockOffsetDays(),
  });
  const stopJobs = startJobRunner({ pool, redis, cacheTtlSeconds: config.CACHE_TTL_SECONDS });
  return async () => {
    stopMaintenance();
    await stopJobs();
  };
}
