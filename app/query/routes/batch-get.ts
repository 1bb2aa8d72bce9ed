/**
 * POST /v1/entities/batch-get {"entity_ids":[…],"attributes":[…]}: up to
 * 1,000 entities' latest values in one read (one transaction, one probe of
 * the projection by primary key), after AWS IoT SiteWise's
 * BatchGetAssetPropertyValue. Ids the tenant does not have, another tenant's
 * included, are listed in `missing`, exactly alike. The per-entity cache is
 * not used: one read of many keys is cheaper than many cache round trips,
 * and the answer's freshness is that one read's.
 */
import type { Request, Response } from "express";
import { tenantOf } from "../../shared/http/auth";
import { badRequest } from "../../shared/http/errors";
import { attributeSelection, selectAttributes } from "../attribute-selection";
import { oltpPolicy, parseEntityId, QueryContext, sendWithFreshness } from "../context";
import { routeRead } from "../routing/route-read";
import { getEntities, idOut } from "../sql/entities";

export const MAX_BATCH_GET_ENTITIES = 1000;

/** The requested ids, deduped in request order. */
function parseEntityIds(raw: unknown): string[] {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_BATCH_GET_ENTITIES) {
    throw badRequest("invalid_parameter", `entity_ids must be an array of 1 to ${MAX_BATCH_GET_ENTITIES} entity ids`, "entity_ids");
  }
  const ids = raw.map((id, i) => {
    const text = typeof id === "number" && Number.isSafeInteger(id) ? String(id) : typeof id === "string" ? id : "";
    try {
      return parseEntityId(text);
    } catch {
      throw badRequest("invalid_parameter", `entity_ids[${i}] must be a positive integer (a number, or a string for ids past 2^53)`, `entity_ids[${i}]`);
    }
  });
  return [...new Set(ids)];
}

export function batchGetHandler(ctx: QueryContext) {
  return async (req: Request, res: Response): Promise<void> => {
    const started = process.hrtime.bigint();
    const tenantId = tenantOf(res);
    const policy = oltpPolicy(ctx, req.headers);
    const body: unknown = req.body;
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw badRequest("invalid_body", "body must be a JSON object {entity_ids, attributes?}", "body");
    }
    const { entity_ids: rawIds, attributes: rawAttributes, ...rest } = body as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) throw badRequest("invalid_parameter", `unknown field ${extra[0]} (batch-get takes entity_ids and attributes)`, extra[0]);
    const entityIds = parseEntityIds(rawIds);
    if (rawAttributes !== undefined && !Array.isArray(rawAttributes)) throw badRequest("invalid_parameter", "attributes must be an array of attribute names", "attributes");
    const selection = await attributeSelection(ctx.catalog, tenantId, rawAttributes);
    const r = await routeRead(ctx.primary, ctx.replicas, policy, tenantId, (c) => getEntities(c, tenantId, entityIds));
    const found = new Map(r.value.map((e) => [String(e.entity_id), e]));
    const entities = entityIds.flatMap((id) => {
      const e = found.get(id);
      return e ? [selectAttributes(e, selection)] : [];
    });
    const missing = entityIds.filter((id) => !found.has(id)).map(idOut);
    const freshness = { source: r.source, lagSeconds: r.lagSeconds, consistency: policy.level, cacheStatus: "bypass" as const };
    sendWithFreshness(res, "batch_get", { entities, missing }, freshness, started);
  };
}
