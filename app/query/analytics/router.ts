/**
 * GET /v1/analytics/...: answered from the warehouse (fed by the CDC loader),
 * never from the OLTP database. Mounted by app/query/app.ts after the API-key
 * and rate-limit middleware, so res.locals carries the tenant.
 *
 *   GET /v1/analytics/attributes/{name}/{hourly|daily}?from=&to=
 *       → {"buckets":[{"start","count","avg","min","max","p50","p95"}]}
 *   GET /v1/analytics/entities/count-by-type
 *       → {"counts":[{"entity_type","count"}],"total":n}
 *
 * Freshness: X-Data-Source: warehouse, X-Consistency-Level: analytics and
 * X-Data-Lag-Seconds = the loader's watermark lag (app/cdc/watermark.ts), and
 * X-Data-As-Of = the watermark itself (now − lag, taken when the lag was read).
 * X-Consistency-Level strong is refused (the warehouse cannot give it); an
 * explicit X-Max-Lag-Seconds the warehouse cannot meet is a 503 with
 * Retry-After. Without a configured warehouse every route answers 503.
 */
import { Request, Response, Router } from "express";
import type { Pool } from "pg";
import { readWarehouseLag } from "../../cdc/watermark";
import { tenantOf } from "../../shared/http/auth";
import { AppError, asyncHandler, badRequest, notFound } from "../../shared/http/errors";
import type { QueryContext } from "../context";
import { sendWithFreshness } from "../context";
import { parseReadPolicy } from "../routing/consistency";
import { parseAnalyticsParams } from "./params";
import { attributeBuckets, countEntitiesByType, findAttribute } from "./sql";

/** How long one lag reading is reused, ms: the watermark moves once per micro-batch anyway. */
const LAG_CACHE_MS = 1_000;

interface WarehouseLag {
  lag: number;
  asOf: Date;
}

function lagReader(wh: Pool) {
  let cached: { at: number; value: WarehouseLag | null } | null = null;
  return async (): Promise<WarehouseLag | null> => {
    if (cached && Date.now() - cached.at < LAG_CACHE_MS) return cached.value;
    const at = Date.now();
    const lag = await readWarehouseLag(wh);
    cached = { at, value: lag === null ? null : { lag, asOf: new Date(at - lag * 1000) } };
    return cached.value;
  };
}

/** The warehouse lag this request may be answered with, or the error saying why not. */
async function admissibleLag(req: Request, ctx: QueryContext, readLag: () => Promise<WarehouseLag | null>): Promise<WarehouseLag> {
  const policy = parseReadPolicy(req.headers, ctx.config.DEFAULT_MAX_LAG_SECONDS);
  if (policy.level === "strong") {
    throw badRequest(
      "invalid_header",
      "analytics is answered by the warehouse, which trails the primary; use X-Consistency-Level analytics (or leave it out)",
      "X-Consistency-Level",
    );
  }
  const read = await readLag();
  if (read === null) {
    throw new AppError(503, "warehouse_not_loaded", "the analytics warehouse has not been loaded yet (is the CDC loader running?)", undefined, undefined, 30);
  }
  const lag = read.lag;
  // Only a budget the caller states applies: the default budget is for replicas.
  if (req.headers["x-max-lag-seconds"] !== undefined && lag > policy.maxLagSeconds) {
    throw new AppError(
      503,
      "lag_budget_exceeded",
      `the warehouse lags ${lag.toFixed(1)} s behind the primary, more than X-Max-Lag-Seconds ${policy.maxLagSeconds}`,
      "X-Max-Lag-Seconds",
      undefined,
      Math.max(1, Math.ceil(lag - policy.maxLagSeconds)),
    );
  }
  return read;
}

const warehouseFreshness = (w: WarehouseLag) =>
  ({ source: "warehouse", lagSeconds: w.lag, asOf: w.asOf, consistency: "analytics", cacheStatus: "bypass" }) as const;

export function createAnalyticsRouter(ctx: QueryContext): Router {
  const router = Router();
  const wh = ctx.warehouse;
  router.use((_req, _res, next) => {
    if (!wh) {
      return next(new AppError(503, "warehouse_unavailable", "no analytics warehouse is configured (WAREHOUSE_URL)", undefined, undefined, 30));
    }
    next();
  });
  if (!wh) return router;
  const readLag = lagReader(wh);

  router.get(
    "/attributes/:name/:granularity",
    asyncHandler(async (req: Request, res: Response) => {
      const started = process.hrtime.bigint();
      const tenantId = tenantOf(res);
      const p = parseAnalyticsParams(req.params, req.query as Record<string, unknown>);
      const lag = await admissibleLag(req, ctx, readLag);
      const attr = await findAttribute(wh, tenantId, p.name);
      if (!attr) throw notFound(`attribute '${p.name}' not found`);
      const buckets = await attributeBuckets(wh, tenantId, attr.attributeId, p.granularity, p.from, p.to);
      sendWithFreshness(
        res,
        "analytics_attribute",
        { attribute: p.name, data_type: attr.dataType, granularity: p.granularity, from: p.from.toISOString(), to: p.to.toISOString(), buckets },
        warehouseFreshness(lag),
        started,
      );
    }),
  );

  router.get(
    "/entities/count-by-type",
    asyncHandler(async (req: Request, res: Response) => {
      const started = process.hrtime.bigint();
      const tenantId = tenantOf(res);
      const lag = await admissibleLag(req, ctx, readLag);
      const counts = await countEntitiesByType(wh, tenantId);
      sendWithFreshness(
        res,
        "analytics_count_by_type",
        { counts, total: counts.reduce((n, c) => n + c.count, 0) },
        warehouseFreshness(lag),
        started,
      );
    }),
  );
  return router;
}
