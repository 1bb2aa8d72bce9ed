/**
 * Runs the queued deletion jobs of every tenant, one at a time per process,
 * in whichever batch-writer task claims them first: `FOR UPDATE SKIP LOCKED`
 * hands each job to exactly one task (graphile-worker's and Solid Queue's
 * pattern) without a coordinator. A job whose task died (no heartbeat for
 * STALE_SECONDS) is claimed again: deletions are idempotent, so running the
 * rest of one twice is harmless. An import whose uploading connection died
 * is marked failed (its committed rows stay; a re-upload is a no-op for them).
 */
import type { Redis } from "ioredis";
import { withTransaction, WRITER_ROLE, type Pool } from "../shared/db";
import { counter } from "../shared/http/metrics";
import { log } from "../shared/log";
import { deleteAttributeRange, deleteEntity, type DeletionDeps } from "./deletions";
import { finishJob, reportProgress, type JobKind } from "./jobs";

const STALE_SECONDS = 60;
const IMPORT_STALE_SECONDS = 300;
const MAX_ATTEMPTS = 5;

const finished = counter("atlas_jobs_finished_total", "Jobs finished by the job runner", ["kind", "state"]);

interface Claimed {
  tenant_id: string;
  job_id: string;
  kind: JobKind;
  params: Record<string, unknown>;
  attempts: number;
}

export interface JobRunnerOptions {
  pool: Pool;
  redis?: Redis;
  cacheTtlSeconds: number;
  /** Poll interval when the queue is empty, ms. Defaults to 1,000. */
  pollMs?: number;
}

async function claim(pool: Pool): Promise<Claimed | null> {
  return withTransaction(pool, async (client) => {
    await client.query(`SET LOCAL ROLE ${WRITER_ROLE}`);
    await client.query(
      `UPDATE jobs SET state = 'failed', finished_at = now(),
              error = 'the upload ended before the import completed; rows committed so far are stored, and uploading the same data again is safe'
       WHERE state = 'running' AND kind = 'import' AND heartbeat_at < now() - make_interval(secs => $1)`,
      [IMPORT_STALE_SECONDS],
    );
    const { rows } = await client.query<Claimed>(
      `SELECT tenant_id, job_id, kind, params, attempts FROM jobs
       WHERE kind <> 'import'
         AND (state = 'queued' OR (state = 'running' AND heartbeat_at < now() - make_interval(secs => $1)))
       ORDER BY created_at
       LIMIT 1
       FOR UPDATE SKIP LOCKED`,
      [STALE_SECONDS],
    );
    const job = rows[0];
    if (!job) return null;
    await client.query(
      `UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now()), heartbeat_at = now()
       WHERE tenant_id = $1 AND job_id = $2`,
      [job.tenant_id, job.job_id],
    );
    return { ...job, attempts: job.attempts + 1 };
  });
}

async function execute(opts: JobRunnerOptions, job: Claimed): Promise<Record<string, unknown>> {
  const deps: DeletionDeps = {
    pool: opts.pool,
    redis: opts.redis,
    cacheTtlSeconds: opts.cacheTtlSeconds,
    onProgress: (done, total, step) => reportProgress(opts.pool, job.tenant_id, job.job_id, { done, total, step }),
  };
  const p = job.params;
  switch (job.kind) {
    case "delete_entity": {
      const removed = await deleteEntity(deps, job.tenant_id, String(p.entity_id));
      return { removed, warehouse: "follows through the change stream", replicas: "follow by replication" };
    }
    case "delete_attribute_range": {
      const { new_latest_ts, ...removed } = await deleteAttributeRange(deps, job.tenant_id, {
        entityId: String(p.entity_id),
        attributeId: Number(p.attribute_id),
        attributeName: String(p.attribute),
        isHot: p.hot === true,
        fromMs: Date.parse(String(p.from)),
        toMs: Date.parse(String(p.to)),
      });
      return { removed, new_latest_ts, warehouse: "follows through the change stream", replicas: "follow by replication" };
    }
    default:
      throw new Error(`the job runner does not run ${job.kind} jobs`);
  }
}

/** Starts the runner; returns a stop function that waits for the job in hand. */
export function startJobRunner(opts: JobRunnerOptions): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();

  const loop = async (): Promise<void> => {
    if (stopped) return;
    let ran = false;
    try {
      const job = await claim(opts.pool);
      if (job) {
        ran = true;
        try {
          const result = await execute(opts, job);
          await finishJob(opts.pool, job.tenant_id, job.job_id, { state: "succeeded", result });
          finished.inc({ kind: job.kind, state: "succeeded" });
          log.info("job succeeded", { tenant_id: job.tenant_id, job_id: job.job_id, kind: job.kind, ...result });
        } catch (err) {
          // Transient failures (a restart, a lock timeout) are retried via the
          // stale-heartbeat path; a job that keeps failing is given up.
          if (job.attempts >= MAX_ATTEMPTS) {
            await finishJob(opts.pool, job.tenant_id, job.job_id, { state: "failed", error: String((err as Error).message ?? err) });
            finished.inc({ kind: job.kind, state: "failed" });
          }
          log.warn("job failed", { tenant_id: job.tenant_id, job_id: job.job_id, kind: job.kind, attempt: job.attempts, error: err });
        }
      }
    } catch (err) {
      log.warn("job runner could not claim a job; retrying", { error: err });
    }
    if (!stopped) timer = setTimeout(() => (current = loop()), ran ? 0 : opts.pollMs ?? 1_000);
  };
  current = loop();
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await current;
  };
}
