/**
 * The ingest HTTP API: POST /v1/telemetry (JSON or streamed NDJSON) and the
 * attribute registry. Routes stay thin: parse, call the use-case, next(err).
 *
 * Order of checks on POST /v1/telemetry: auth (401) → request rate (429) →
 * content type (415) → body size while reading (413) → every reading
 * validated (400 listing all bad ones, 413 past the reading limit) →
 * readings rate per lane (429) → sink (202 once durable, 503 when not).
 */
import express, { Router, type Request } from "express";
import type { Redis } from "ioredis";
import type { AtlasConfig } from "../shared/config";
import type { Pool } from "../shared/db";
import { requireApiKey, tenantOf } from "../shared/http/auth";
import { AppError, asyncHandler, badRequest } from "../shared/http/errors";
import { RatedBuckets, rateLimit, rateLimitedError, tenantRequestRate } from "../shared/http/rate-limit";
import { authenticate } from "../shared/tenants";
import { accepted, collectReadings, UnparsableLine, type AcceptLimits } from "./accept";
import { bodyKind, ndjsonLines, readText } from "./body";
import { createImportRouter } from "./imports/route";
import { entityTypesFor } from "./entity-types";
import { registryFor } from "./registry";
import { TenantSettingsCache } from "../shared/tenant-settings";
import { DATA_TYPES, type DataType, type ReadingSink } from "./types";
import { ATTRIBUTE_NAME } from "./validate";

export interface IngestRateLimits {
  /** Readings per second per tenant on the live lane. Defaults to 50,000. */
  liveReadingsPerSecond?: number;
  /** Readings per second per tenant on the backfill lane (its own quota). Defaults to 10,000. */
  backfillReadingsPerSecond?: number;
}

export interface IngestDeps {
  config: AtlasConfig;
  pool: Pool;
  sink: ReadingSink;
  /** Overrides of the readings/s quotas (requests/s come from TENANT_RATE_LIMIT_RPS or the tenant row). */
  rateLimits?: IngestRateLimits;
  /** The cache, when there is one: imports invalidate what they store (the direct sink takes its own). */
  redis?: Redis;
}

async function* ndjsonReadings(req: Request, maxBytes: number): AsyncGenerator<unknown> {
  for await (const line of ndjsonLines(req, maxBytes)) {
    try {
      yield JSON.parse(line);
    } catch {
      yield new UnparsableLine("line is not valid JSON");
    }
  }
}

export function createIngestRouter(deps: IngestDeps): Router {
  const { config, pool, sink } = deps;
  const registry = registryFor(pool);
  const entityTypes = entityTypesFor(pool);
  const settingsCache = new TenantSettingsCache(pool);
  const liveBuckets = new RatedBuckets();
  const backfillBuckets = new RatedBuckets();
  const liveRate = deps.rateLimits?.liveReadingsPerSecond ?? 50_000;
  const backfillRate = deps.rateLimits?.backfillReadingsPerSecond ?? 10_000;
  const limits: AcceptLimits = {
    maxReadings: config.INGEST_MAX_READINGS,
    maxAttributes: config.INGEST_MAX_ATTRIBUTES,
    liveWindowSeconds: config.INGEST_LIVE_WINDOW_SECONDS,
    maxClockSkewSeconds: config.INGEST_MAX_CLOCK_SKEW_SECONDS,
    retentionDays: config.RETENTION_DAYS,
  };

  const router = Router();
  const auth = requireApiKey((key) => authenticate(pool, key));

  router.post(
    "/v1/telemetry",
    auth,
    rateLimit({ ratePerSecond: tenantRequestRate(settingsCache, config.TENANT_RATE_LIMIT_RPS), name: "requests" }),
    asyncHandler(async (req, res) => {
      const tenantId = tenantOf(res);
      const settings = await settingsCache.get(tenantId);

      const kind = bodyKind(req);
      let source: AsyncIterable<unknown> | Iterable<unknown>;
      if (kind === "json") {
        const text = await readText(req, config.INGEST_MAX_BODY_BYTES).catch((err) => {
          if (err instanceof AppError && err.status === 413) res.setHeader("Connection", "close");
          throw err;
        });
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          throw badRequest("malformed_json", "request body is not valid JSON", "body");
        }
        const readings = (body as { readings?: unknown } | null)?.readings;
        if (!Array.isArray(readings)) {
          throw badRequest("invalid_body", 'the body must be {"readings": [...]}', "readings");
        }
        source = readings;
      } else {
        source = ndjsonReadings(req, config.INGEST_MAX_BODY_BYTES);
      }

      const batch = await collectReadings(tenantId, source, settings, registry, limits, entityTypes).catch((err) => {
        // The rest of an oversized body is not worth reading: close the connection after the answer.
        if (err instanceof AppError && err.status === 413) res.setHeader("Connection", "close");
        throw err;
      });

      if (batch.backfill > 0) {
        const w = backfillBuckets.take(tenantId, backfillRate, batch.backfill);
        if (w > 0) throw rateLimitedError("backfill_readings", backfillRate, "readings", w);
      }
      if (batch.live > 0) {
        const w = liveBuckets.take(tenantId, liveRate, batch.live);
        if (w > 0) throw rateLimitedError("readings", liveRate, "readings", w);
      }

      await sink.publish(tenantId, batch);
      accepted.inc({ lane: "live" }, batch.live);
      accepted.inc({ lane: "backfill" }, batch.backfill);
      res.status(202).json({ accepted: batch.readings });
    }),
  );

  // POST /v1/imports: paced by the same backfill buckets, so imports and live backfill share one quota.
  router.use(createImportRouter({ config, pool, registry, redis: deps.redis, settingsCache, auth, limits, quota: { buckets: backfillBuckets, rate: backfillRate } }));

  const smallJson = express.json({ limit: "16kb" });

  router.post(
    "/v1/attributes",
    auth,
    (req, _res, next) => {
      if (!req.is("application/json")) {
        return next(new AppError(415, "unsupported_media_type", "Content-Type must be application/json", "Content-Type"));
      }
      next();
    },
    smallJson,
    asyncHandler(async (req, res) => {
      const tenantId = tenantOf(res);
      const { name, data_type: dataType, hot } = (req.body ?? {}) as { name?: unknown; data_type?: unknown; hot?: unknown };
      if (typeof name !== "string" || !ATTRIBUTE_NAME.test(name)) {
        throw badRequest("invalid_attribute", "name must match ^[a-zA-Z_][a-zA-Z0-9_.-]{0,127}$", "name");
      }
      if (typeof dataType !== "string" || !(DATA_TYPES as readonly string[]).includes(dataType)) {
        throw badRequest("invalid_attribute", `data_type must be one of ${DATA_TYPES.join(", ")}`, "data_type");
      }
      if (hot !== undefined && typeof hot !== "boolean") {
        throw badRequest("invalid_attribute", "hot must be true or false", "hot");
      }
      const { attribute, created } = await registry.register(tenantId, name, dataType as DataType, hot);
      res.status(created ? 201 : 200).json(attribute);
    }),
  );

  router.get(
    "/v1/attributes",
    auth,
    asyncHandler(async (_req, res) => {
      res.json({ attributes: await registry.list(tenantOf(res)) });
    }),
  );

  return router;
}
