/**
 * POST /v1/imports: bulk backfill of historical readings, NDJSON or CSV, of
 * any size, streamed through the writer's storage step as it arrives.
 *
 * Order of checks: auth (401) → request rate (429) → content type and
 * encoding (415) → CSV header (400, nothing stored, no job) → the job is
 * created (Location: /v1/jobs/{id}) → rows read, validated, paced by the
 * backfill quota and stored chunk by chunk → 201 with the finished job. Bad
 * rows are listed in the job's result; the rest is stored. A failure after
 * the job exists (database down 503, CSV syntax error 400, upload cut off or
 * stalled 400/408) answers with the job id and the counts so far, and the
 * job says the same. The importer module docs: run-import.ts (memory,
 * re-uploads), pace.ts (quota), upload.ts (timeouts), csv.ts, ndjson.ts.
 */
import { Router, type RequestHandler } from "express";
import type { AtlasConfig } from "../../shared/config";
import { tenantOf } from "../../shared/http/auth";
import { asyncHandler, badRequest } from "../../shared/http/errors";
import { rateLimit, tenantRequestRate } from "../../shared/http/rate-limit";
import type { TenantSettingsCache } from "../../shared/tenant-settings";
import type { AttributeRegistry } from "../registry";
import type { AttributeDef } from "../validate";
import { csvSource } from "./csv";
import { runImportJob } from "./import-job";
import { ndjsonSource } from "./ndjson";
import type { ImportDeps } from "./run-import";
import { importFormat, uploadBody } from "./upload";

export interface ImportRouteDeps extends Omit<ImportDeps, "cacheTtlSeconds"> {
  config: AtlasConfig;
  settingsCache: TenantSettingsCache;
  /** The ingest router's API-key check. */
  auth: RequestHandler;
}

/** The tenant's attributes of these names; the registry is refreshed once when one is missing. */
async function attributesNamed(registry: AttributeRegistry, tenantId: string, names: string[]): Promise<Array<AttributeDef | undefined>> {
  let attrs = await registry.forTenant(tenantId);
  if (names.some((n) => !attrs.byName.has(n)) && (await registry.refresh(tenantId))) attrs = await registry.forTenant(tenantId);
  return names.map((n) => attrs.byName.get(n));
}

export function createImportRouter(deps: ImportRouteDeps): Router {
  const { config, registry } = deps;
  const importDeps: ImportDeps = {
    pool: deps.pool,
    registry,
    redis: deps.redis,
    cacheTtlSeconds: config.CACHE_TTL_SECONDS,
    quota: deps.quota,
    limits: deps.limits,
    chunkReadings: deps.chunkReadings,
  };
  const router = Router();
  router.post(
    "/v1/imports",
    deps.auth,
    rateLimit({ ratePerSecond: tenantRequestRate(deps.settingsCache, config.TENANT_RATE_LIMIT_RPS), name: "requests" }),
    asyncHandler(async (req, res) => {
      // Every answer closes the connection: the upload left the server's
      // request deadline (upload.ts), and an early answer must not have Node
      // drain the rest of a gigabyte body.
      res.setHeader("Connection", "close");
      const tenantId = tenantOf(res);
      const { format, contentType } = importFormat(req);
      const body = uploadBody(req);
      const entityType = req.query.entity_type;
      if (entityType !== undefined && (typeof entityType !== "string" || format !== "csv")) {
        throw badRequest("invalid_parameter", "entity_type is one value, for CSV uploads (NDJSON readings name their own)", "entity_type");
      }
      const settings = await deps.settingsCache.get(tenantId);
      const source =
        format === "csv"
          ? await csvSource(body.chunks, { entityType, lookup: (names) => attributesNamed(registry, tenantId, names) })
          : ndjsonSource(body.chunks);
      const params = { format, content_type: contentType, ...(entityType !== undefined ? { entity_type: entityType } : {}) };
      const job = await runImportJob(importDeps, tenantId, settings, source, body.bytes, params, (jobId) =>
        res.setHeader("Location", `/v1/jobs/${jobId}`),
      );
      res.status(201).json(job);
    }),
  );
  return router;
}
