/** What the route handlers share: pools, routing, cache, dictionaries, settings. */
import type { Pool } from "pg";
import type { Redis } from "ioredis";
import type { Response } from "express";
import type { AtlasConfig } from "../shared/config";
import { badRequest } from "../shared/http/errors";
import type { AttributeCatalog } from "./catalog";
import { applyFreshness, Freshness } from "./freshness";
import { queryDuration } from "./metrics";
import { parseReadPolicy, ReadPolicy } from "./routing/consistency";
import type { ReplicaSet } from "./routing/replica-set";
import type { SearchPlan } from "./sql/search";
import type { TimeZones } from "./timeseries/timezones";

export interface QueryContext {
  config: AtlasConfig;
  primary: Pool;
  replicas: ReplicaSet;
  redis?: Redis;
  warehouse?: Pool;
  catalog: AttributeCatalog;
  timezones: TimeZones;
  cursorSecret: Buffer;
  searchPlan: SearchPlan;
}

/** The read policy of a request to the OLTP endpoints (analytics is for /v1/analytics only). */
export function oltpPolicy(ctx: QueryContext, headers: Record<string, string | string[] | undefined>): ReadPolicy {
  const policy = parseReadPolicy(headers, ctx.config.DEFAULT_MAX_LAG_SECONDS);
  if (policy.level === "analytics") {
    throw badRequest(
      "invalid_header",
      "X-Consistency-Level analytics is answered by /v1/analytics/... routes; use strong or eventual here",
      "X-Consistency-Level",
    );
  }
  return policy;
}

/** Entity ids are positive bigints. */
export function parseEntityId(raw: string): string {
  if (!/^[1-9]\d{0,18}$/.test(raw) || BigInt(raw) > 9223372036854775807n) {
    throw badRequest("invalid_parameter", "entity id must be a positive integer", "id");
  }
  return raw;
}

/** Sends a JSON answer with its freshness headers and `_metadata`, and records the latency. */
export function sendWithFreshness(res: Response, endpoint: string, body: object, f: Freshness, startedAtNs: bigint): void {
  const metadata = applyFreshness(res, f, startedAtNs);
  queryDuration.observe({ endpoint, source: f.source }, metadata.query_ms / 1000);
  res.json({ ...body, _metadata: metadata });
}
