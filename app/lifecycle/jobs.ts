/**
 * The jobs of a tenant (table `jobs`, migration 000012): deletions, which the
 * job runner (job-runner.ts) executes in the batch writer, and imports, which
 * the ingest API executes while it reads the upload. Tenant-facing reads run
 * under the tenant's row-level security, so another tenant's job id is simply
 * not found: the same 404 as an id that never existed.
 */
import { withTenant, type Pool, type PoolClient } from "../shared/db";

export const JOB_KINDS = ["delete_entity", "delete_attribute_range", "import"] as const;
export type JobKind = (typeof JOB_KINDS)[number];
export type JobState = "queued" | "running" | "succeeded" | "failed";

export interface JobRow {
  tenant_id: string;
  job_id: string;
  kind: JobKind;
  state: JobState;
  params: Record<string, unknown>;
  progress: Record<string, unknown>;
  result: Record<string, unknown>;
  error: string | null;
  attempts: number;
  created_at: Date;
  started_at: Date | null;
  heartbeat_at: Date | null;
  finished_at: Date | null;
}

type JobTimes = "created_at" | "started_at" | "finished_at";

/** The public shape of a job (GET /v1/jobs/{id}): the row without tenant and bookkeeping, times as ISO-8601. */
export type JobView = Pick<JobRow, "job_id" | "kind" | "state" | "params" | "progress" | "result" | "error"> & {
  [K in JobTimes]: JobRow[K] extends Date ? string : string | null;
};

export function jobView(row: JobRow): JobView {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    job_id: row.job_id,
    kind: row.kind,
    state: row.state,
    params: row.params,
    progress: row.progress,
    result: row.result,
    error: row.error,
    created_at: row.created_at.toISOString(),
    started_at: iso(row.started_at),
    finished_at: iso(row.finished_at),
  };
}

/** Queues a job of the tenant. */
export async function createJob(
  pool: Pool,
  tenantId: string,
  kind: JobKind,
  params: Record<string, unknown>,
  opts: { state?: JobState } = {},
): Promise<JobRow> {
  return withTenant(pool, tenantId, async (client) => {
    const { rows } = await client.query<JobRow>(
      `INSERT INTO jobs (tenant_id, kind, params, state, started_at)
       VALUES ($1, $2, $3, $4, CASE WHEN $4 = 'running' THEN now() END) RETURNING *`,
      [tenantId, kind, JSON.stringify(params), opts.state ?? "queued"],
    );
    return rows[0];
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The tenant's job, or null: unknown, malformed and other tenants' ids alike. */
export async function getJob(pool: Pool, tenantId: string, jobId: string): Promise<JobRow | null> {
  if (!UUID.test(jobId)) return null;
  return withTenant(
    pool,
    tenantId,
    async (client) => (await client.query<JobRow>("SELECT * FROM jobs WHERE job_id = $1", [jobId])).rows[0] ?? null,
    { readOnly: true },
  );
}

/** Writes a running job's progress (and keeps its heartbeat fresh). */
export async function reportProgress(
  client: Pool | PoolClient,
  tenantId: string,
  jobId: string,
  progress: Record<string, unknown>,
  result?: Record<string, unknown>,
): Promise<void> {
  const run = async (c: PoolClient) => {
    await c.query(
      `UPDATE jobs SET progress = $2, result = coalesce($3, result), heartbeat_at = now() WHERE job_id = $1`,
      [jobId, JSON.stringify(progress), result === undefined ? null : JSON.stringify(result)],
    );
  };
  if ("release" in client) return run(client);
  return withTenant(client, tenantId, run);
}

/** Marks a job finished, with its outcome. */
export async function finishJob(
  pool: Pool,
  tenantId: string,
  jobId: string,
  outcome: { state: "succeeded"; result: Record<string, unknown>; progress?: Record<string, unknown> } | { state: "failed"; error: string },
): Promise<void> {
  await withTenant(pool, tenantId, async (client) => {
    if (outcome.state === "succeeded") {
      await client.query(
        `UPDATE jobs SET state = 'succeeded', result = $2, progress = coalesce($3, progress), finished_at = now(), heartbeat_at = now(), error = NULL
         WHERE job_id = $1`,
        [jobId, JSON.stringify(outcome.result), outcome.progress === undefined ? null : JSON.stringify(outcome.progress)],
      );
    } else {
      await client.query(
        `UPDATE jobs SET state = 'failed', error = $2, finished_at = now(), heartbeat_at = now() WHERE job_id = $1`,
        [jobId, outcome.error],
      );
    }
  });
}
