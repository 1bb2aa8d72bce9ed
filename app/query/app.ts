/**
 * The query API as an Express router, composed into one app by app/main.ts
 * (`npm start`) or run alone by app/query/main.ts (the query container).
 *
 *   GET  /v1/entities/{id}               latest values (cache-aside, eventual)
 *   POST /v1/entities/search             hot-attribute filters, keyset pages
 *   GET  /v1/entities/{id}/timeseries    raw or aggregated history
 *   GET  /v1/analytics/...               the warehouse (analytics/)
 *   DELETE /v1/entities/..., GET /v1/jobs/{id}, GET /v1/retention   the data lifecycle (app/lifecycle/)
 *   /v1/webhooks...                      webhook endpoints and deliveries (app/webhooks/)
 *
 * Every read runs as the caller's tenant under row-level security, routed by
 * X-Consistency-Level (routing/), and answers with freshness headers.
 */
import { createHash } from "crypto";
import express, { Router, type NextFunction, type Request, type Response } from "express";
import type { Pool } from "pg";
import type { Redis } from "ioredis";
import type { AtlasConfig } from "../shared/config";
import { Authenticator, requireApiKey } from "../shared/http/auth";
import { AppError, asyncHandler } from "../shared/http/errors";
import { rateLimit, tenantRequestRate } from "../shared/http/rate-limit";
import { TenantSettingsCache } from "../shared/tenant-settings";
import { authenticate } from "../shared/tenants";
import { createLifecycleRouter } from "../lifecycle/router";
import { createWebhookRouter } from "../webhooks";
import { createAnalyticsRouter } from "./analytics/router";
import { AttributeCatalog } from "./catalog";
import type { QueryContext } from "./context";
import { ReplicaSet } from "./routing/replica-set";
import { batchGetHandler } from "./routes/batch-get";
import { getEntityHandler } from "./routes/entity";
import { searchHandler } from "./routes/search";
import { timeseriesHandler } from "./routes/timeseries";
import { DEFAULT_SEARCH_PLAN, type SearchPlan } from "./sql/search";
import { TimeZones } from "./timeseries/timezones";

export interface QueryDeps {
  config: AtlasConfig;
  /** The primary: strong reads, fallbacks, the attribute dictionary, auth. */
  primary: Pool;
  /**
   * The replicas. A ReplicaSet is started and stopped by its owner (the
   * caller). Plain pools are named replica-1..n in order and measured by a
   * set this router starts (its timer does not keep the process alive).
   */
  replicas: ReplicaSet | Pool[];
  /** Cache; absent: every answer says X-Cache-Status: bypass. */
  redis?: Redis;
  /** Analytics warehouse; absent: /v1/analytics answers 503. */
  warehouse?: Pool;
  /** Key → tenant. Defaults to the api_keys lookup on the primary. */
  authenticate?: Authenticator;
  /**
   * Signs search cursors; every task behind the load balancer needs the same.
   * Defaults to a key derived from DATABASE_URL (shared by all tasks of a
   * deployment; see the README on a dedicated secret).
   */
  cursorSecret?: string | Buffer;
  /** How searches choose between the ordered scan and the GIN candidates. Defaults to DEFAULT_SEARCH_PLAN. */
  searchPlan?: SearchPlan;
}

function cursorKey(deps: QueryDeps): Buffer {
  if (deps.cursorSecret !== undefined) return Buffer.isBuffer(deps.cursorSecret) ? deps.cursorSecret : Buffer.from(deps.cursorSecret);
  return createHash("sha256").update(`atlas-search-cursor:v1:${deps.config.DATABASE_URL ?? "embedded"}`).digest();
}

/** A JSON request body (Content-Type application/json, at most 256 kB) or 415 naming the header. */
const jsonBody = (route: string) => [
  (req: Request, _res: Response, next: NextFunction) =>
    next(req.is("application/json") ? undefined : new AppError(415, "unsupported_media_type", `${route} takes Content-Type: application/json`, "Content-Type")),
  express.json({ limit: "256kb" }),
];

export function createQueryRouter(deps: QueryDeps): Router {
  let replicas: ReplicaSet;
  if (deps.replicas instanceof ReplicaSet) {
    replicas = deps.replicas;
  } else {
    replicas = new ReplicaSet(deps.primary, deps.replicas.map((pool, i) => ({ name: `replica-${i + 1}`, pool })));
    replicas.start();
  }
  const ctx: QueryContext = {
    config: deps.config,
    primary: deps.primary,
    replicas,
    redis: deps.redis,
    warehouse: deps.warehouse,
    catalog: new AttributeCatalog(deps.primary),
    timezones: new TimeZones(deps.primary),
    cursorSecret: cursorKey(deps),
    searchPlan: deps.searchPlan ?? DEFAULT_SEARCH_PLAN,
  };

  const tenantSettings = new TenantSettingsCache(deps.primary);
  const router = Router();
  router.use(
    ["/v1/entities", "/v1/analytics", "/v1/jobs", "/v1/retention", "/v1/webhooks"],
    requireApiKey(deps.authenticate ?? ((key) => authenticate(deps.primary, key))),
    rateLimit({ ratePerSecond: tenantRequestRate(tenantSettings, deps.config.TENANT_RATE_LIMIT_RPS), name: "query" }),
  );
  router.post("/v1/entities/search", jsonBody("search"), asyncHandler(searchHandler(ctx)));
  router.post("/v1/entities/batch-get", jsonBody("batch-get"), asyncHandler(batchGetHandler(ctx)));
  router.get("/v1/entities/:id", asyncHandler(getEntityHandler(ctx)));
  router.get("/v1/entities/:id/timeseries", asyncHandler(timeseriesHandler(ctx)));
  router.use("/v1/analytics", createAnalyticsRouter(ctx));
  router.use(createLifecycleRouter({ config: deps.config, primary: deps.primary, tenantSettings }));
  router.use(
    createWebhookRouter({ primary: deps.primary, secretKey: deps.config.WEBHOOK_SECRET_KEY, allowPrivateTargets: deps.config.WEBHOOK_ALLOW_PRIVATE_TARGETS }),
  );
  return router;
}
