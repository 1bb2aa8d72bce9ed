/**
 * GET /v1/analytics/...: answered from the warehouse, never from the OLTP
 * database. Without a configured warehouse every route answers 503
 * warehouse_unavailable.
 *
 * TODO(CDC issue 6): the analytics queries themselves
 * (`/attributes/{name}/{hourly|daily}`, `/entities/count-by-type`, with the
 * loader's watermark as the lag in the freshness headers: use
 * sendWithFreshness with source "warehouse" and consistency "analytics").
 * Until then a configured warehouse answers 501 not_implemented.
 */
import { Router } from "express";
import { AppError } from "../../shared/http/errors";
import type { QueryContext } from "../context";

export function createAnalyticsRouter(ctx: QueryContext): Router {
  const router = Router();
  router.use((_req, _res, next) => {
    if (!ctx.warehouse) {
      return next(new AppError(503, "warehouse_unavailable", "no analytics warehouse is configured (WAREHOUSE_URL)", undefined, undefined, 30));
    }
    next();
  });
  router.get(["/attributes/:name/:granularity", "/entities/count-by-type"], (_req, _res, next) => {
    next(new AppError(501, "not_implemented", "analytics queries are not implemented yet"));
  });
  return router;
}
