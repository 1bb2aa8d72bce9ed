/**
 * An import as a job of its tenant (app/lifecycle/jobs.ts, kind `import`):
 * created `running` once the body is known to be readable, its progress
 * written after every commit (GET /v1/jobs/{id} shows it while the upload
 * runs), finished with its result when the body is done, or failed with
 * what stopped it. The request that uploads runs the job; nothing else
 * picks an import up, so a job whose task died stays `running` with a stale
 * heartbeat_at.
 */
import type { TenantSettings } from "../../shared/tenant-settings";
import { AppError, isDatabaseUnavailable } from "../../shared/http/errors";
import { log } from "../../shared/log";
import { createJob, finishJob, getJob, jobView, reportProgress, type JobView } from "../../lifecycle/jobs";
import { isDataError } from "../writer/store-batch";
import { runImport, StorageFailed, type ImportDeps, type ImportOutcome, type ImportStopped } from "./run-import";
import type { RowSource } from "./rows";

const REUPLOAD = "re-uploading the whole file is safe: rows already stored are not stored twice";

export async function runImportJob(
  deps: ImportDeps,
  tenantId: string,
  settings: TenantSettings,
  source: RowSource,
  bytes: () => number,
  params: Record<string, unknown>,
  /** Called with the job id as soon as the job exists (the route sets Location). */
  onCreated: (jobId: string) => void,
): Promise<JobView> {
  const { pool } = deps;
  const job = await createJob(pool, tenantId, "import", params, { state: "running" });
  onCreated(job.job_id);
  let outcome: ImportOutcome;
  try {
    outcome = await runImport(deps, { tenantId, jobId: job.job_id, settings }, source, bytes);
  } catch (err) {
    const stopped = err as ImportStopped; // runImport rejects with nothing else
    const answer = answerFor(stopped.cause, tenantId, job.job_id, stopped.outcome);
    // Best effort: with the database gone, the job stays `running` (its heartbeat tells).
    await reportProgress(pool, tenantId, job.job_id, stopped.outcome.progress, stopped.outcome.result)
      .then(() => finishJob(pool, tenantId, job.job_id, { state: "failed", error: answer.message }))
      .catch((e) => log.warn("could not record the failed import", { tenant_id: tenantId, job_id: job.job_id, error: e }));
    throw answer;
  }
  await finishJob(pool, tenantId, job.job_id, { state: "succeeded", result: outcome.result, progress: outcome.progress });
  return jobView((await getJob(pool, tenantId, job.job_id))!);
}

/** The client's answer for what stopped an import, carrying the job id and the counts so far. */
function answerFor(cause: unknown, tenantId: string, jobId: string, outcome: ImportOutcome): AppError {
  const { accepted } = outcome.progress;
  const details = { job_id: jobId, ...outcome.progress };
  if (cause instanceof AppError) {
    const extra = cause.details && typeof cause.details === "object" ? cause.details : {};
    return new AppError(
      cause.status,
      cause.code,
      `${cause.message}; ${accepted} rows were stored before it (${REUPLOAD})`,
      cause.field,
      { ...extra, ...details },
      cause.retryAfter,
    );
  }
  const inner = cause instanceof StorageFailed ? cause.cause : cause;
  if (!isDataError(inner) && (cause instanceof StorageFailed || isDatabaseUnavailable(inner))) {
    log.warn("import stopped: database unavailable; answering 503", { tenant_id: tenantId, job_id: jobId, error: inner });
    return new AppError(
      503,
      "dependency_unavailable",
      `the database is unavailable, retry later; ${accepted} rows were stored before it (${REUPLOAD})`,
      undefined,
      details,
      2,
    );
  }
  // A data error here is a bug in validation (as in the direct sink): logged, answered 500.
  log.error("import stopped by an internal error", { tenant_id: tenantId, job_id: jobId, error: inner });
  return new AppError(500, "internal", "internal error; the import stopped", undefined, details);
}
