/**
 * The lifecycle API, served by the query API (the ALB's default target):
 *
 *   DELETE /v1/entities/{id}                                  → 202 {job}
 *   DELETE /v1/entities/{id}/attributes/{name}?from=…&to=…    → 202 {job}
 *   GET    /v1/jobs/{id}                                      → the job
 *   GET    /v1/retention                                      → retention, oldest data, next drop
 *
 * Deletions are queued as jobs (the batch writer's job runner executes them)
 * so a request never holds a large delete open. Unknown entities and
 * attributes are refused at once; another tenant's entity, attribute or job
 * is answered exactly as one that does not exist (row-level security makes
 * them invisible, so there is no separate check to get wrong).
 */
import { Router, type Response } from "express";
import type { AtlasConfig } from "../shared/config";
import { withTenant, type Pool } from "../shared/db";
import { tenantOf } from "../shared/http/auth";
import { asyncHandler, badRequest, notFound } from "../shared/http/errors";
import type { TenantSettingsCache } from "../shared/tenant-settings";
import { parseTimestamp } from "../ingest/validate";
import { parseEntityId } from "../query/context";
import { entityExists } from "../query/sql/entities";
import { createJob, getJob, jobView, type JobRow } from "./jobs";

const DAY_MS = 86_400_000;

export interface LifecycleDeps {
  config: AtlasConfig;
  /** The primary: jobs and deletions must see committed state, never a lagging replica. */
  primary: Pool;
  tenantSettings: TenantSettingsCache;
}


function accepted(res: Response, job: JobRow): void {
  res.status(202).setHeader("Location", `/v1/jobs/${job.job_id}`).json(jobView(job));
}

function instant(raw: unknown, name: "from" | "to"): number {
  if (typeof raw !== "string" || raw === "") throw badRequest("invalid_parameter", `${name} is required (ISO 8601 with a zone, e.g. 2026-11-24T00:00:00Z)`, name);
  const t = parseTimestamp(raw);
  if (typeof t === "string") throw badRequest("invalid_parameter", `${name} ${t}`, name);
  return t;
}

export function createLifecycleRouter(deps: LifecycleDeps): Router {
  const { primary } = deps;
  const router = Router();

  router.delete(
    "/v1/entities/:id",
    asyncHandler(async (req, res) => {
      const tenantId = tenantOf(res);
      const entityId = parseEntityId(req.params.id);
      const exists = await withTenant(primary, tenantId, (c) => entityExists(c, tenantId, entityId), { readOnly: true });
      if (!exists) throw notFound(`entity ${entityId} not found`, "id");
      accepted(res, await createJob(primary, tenantId, "delete_entity", { entity_id: entityId }));
    }),
  );

  router.delete(
    "/v1/entities/:id/attributes/:name",
    asyncHandler(async (req, res) => {
      const tenantId = tenantOf(res);
      const entityId = parseEntityId(req.params.id);
      const from = instant(req.query.from, "from");
      const to = instant(req.query.to, "to");
      if (from >= to) throw badRequest("invalid_parameter", "from must be before to (the range is [from, to))", "to");
      const found = await withTenant(
        primary,
        tenantId,
        async (c) => {
          const entity = await entityExists(c, tenantId, entityId);
          const attribute = await c.query<{ attribute_id: number; is_hot: boolean }>(
            "SELECT attribute_id, is_hot FROM attributes WHERE name = $1",
            [req.params.name],
          );
          return { entity, attribute: attribute.rows[0] };
        },
        { readOnly: true },
      );
      if (!found.entity) throw notFound(`entity ${entityId} not found`, "id");
      if (!found.attribute) throw notFound(`attribute ${req.params.name} not found`, "name", "attribute_not_found");
      const job = await createJob(primary, tenantId, "delete_attribute_range", {
        entity_id: entityId,
        attribute: req.params.name,
        attribute_id: found.attribute.attribute_id,
        hot: found.attribute.is_hot,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
      });
      accepted(res, job);
    }),
  );

  router.get(
    "/v1/jobs/:id",
    asyncHandler(async (req, res) => {
      const job = await getJob(primary, tenantOf(res), req.params.id);
      if (!job) throw notFound(`job ${req.params.id} not found`, "id");
      res.json(jobView(job));
    }),
  );

  router.get(
    "/v1/retention",
    asyncHandler(async (_req, res) => {
      const tenantId = tenantOf(res);
      const settings = await deps.tenantSettings.get(tenantId);
      const row = await withTenant(
        primary,
        tenantId,
        async (c) =>
          (
            await c.query<{ last_success_at: Date | null; drop_retention_days: number | null; offset_ms: number; ahead: number; oldest: Date | null }>(
              `SELECT s.last_success_at, s.retention_days AS drop_retention_days,
                      extract(epoch FROM s.clock_offset) * 1000 AS offset_ms,
                      atlas_partitions_ahead_days() AS ahead, atlas_oldest_reading() AS oldest
               FROM partition_maintenance_status s`,
            )
          ).rows[0],
        { readOnly: true },
      );
      const retentionDays = settings.retentionDays ?? deps.config.RETENTION_DAYS;
      // Partitions hold every tenant's rows of a UTC day and are dropped once
      // the whole day is older than the longest retention of any tenant
      // (db/README.md): the oldest reading goes with its day's partition.
      const dropRetentionDays = row?.drop_retention_days ?? Math.max(retentionDays, deps.config.RETENTION_DAYS);
      let nextDrop: string | null = null;
      if (row?.oldest) {
        const dayEnd = Math.floor(row.oldest.getTime() / DAY_MS) * DAY_MS + DAY_MS;
        nextDrop = new Date(dayEnd + dropRetentionDays * DAY_MS - Number(row.offset_ms)).toISOString();
      }
      res.json({
        retention_days: retentionDays,
        oldest_data: row?.oldest ? row.oldest.toISOString() : null,
        next_drop: nextDrop,
        partitions_ahead_days: row?.ahead ?? 0,
        drop_retention_days: dropRetentionDays,
        last_maintenance: row?.last_success_at ? row.last_success_at.toISOString() : null,
      });
    }),
  );

  return router;
}
