/**
 * GET /v1/entities/{id}: the latest value of every attribute (or of those
 * `?attributes=a,b` selects), one probe of the projection.
 */
import type { Request, Response } from "express";
import { tenantOf } from "../../shared/http/auth";
import { notFound } from "../../shared/http/errors";
import { attributeSelection, selectAttributes } from "../attribute-selection";
import { cachedEntity } from "../cache";
import { applyFreshness } from "../freshness";
import { oltpPolicy, parseEntityId, QueryContext, sendWithFreshness } from "../context";
import { routeRead } from "../routing/route-read";
import { getEntity } from "../sql/entities";

export function getEntityHandler(ctx: QueryContext) {
  return async (req: Request, res: Response): Promise<void> => {
    const started = process.hrtime.bigint();
    const tenantId = tenantOf(res);
    const policy = oltpPolicy(ctx, req.headers);
    const entityId = parseEntityId(req.params.id);
    const selection = await attributeSelection(ctx.catalog, tenantId, req.query.attributes);
    // The cache holds the whole entity (one entry per entity, whatever the
    // selection); the selection is applied to what it returns.
    const r = await cachedEntity(ctx, policy, tenantId, entityId, () =>
      routeRead(ctx.primary, ctx.replicas, policy, tenantId, (c) => getEntity(c, tenantId, entityId)),
    );
    const freshness = { source: r.source, lagSeconds: r.lagSeconds, consistency: policy.level, cacheStatus: r.cacheStatus };
    // Another tenant's id is as absent as an unknown one: 404, never 403. The
    // 404 says where it came from too: from a lagging replica it may be news.
    if (r.value === null) {
      applyFreshness(res, freshness, started);
      throw notFound(`entity ${entityId} not found`);
    }
    sendWithFreshness(res, "entity", selectAttributes(r.value, selection), freshness, started);
  };
}
