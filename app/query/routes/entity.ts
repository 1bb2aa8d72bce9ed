/** GET /v1/entities/{id}: the latest value of every attribute, one probe of the projection. */
import type { Request, Response } from "express";
import { tenantOf } from "../../shared/http/auth";
import { notFound } from "../../shared/http/errors";
import { cachedEntity } from "../cache";
import { oltpPolicy, parseEntityId, QueryContext, sendWithFreshness } from "../context";
import { routeRead } from "../routing/route-read";
import { getEntity } from "../sql/entities";

export function getEntityHandler(ctx: QueryContext) {
  return async (req: Request, res: Response): Promise<void> => {
    const started = process.hrtime.bigint();
    const tenantId = tenantOf(res);
    const policy = oltpPolicy(ctx, req.headers);
    const entityId = parseEntityId(req.params.id);
    const r = await cachedEntity(ctx, policy, tenantId, entityId, () =>
      routeRead(ctx.primary, ctx.replicas, policy, tenantId, (c) => getEntity(c, tenantId, entityId)),
    );
    // Another tenant's id is as absent as an unknown one: 404, never 403.
    if (r.value === null) throw notFound(`entity ${entityId} not found`);
    sendWithFreshness(res, "entity", r.value, { source: r.source, lagSeconds: r.lagSeconds, consistency: policy.level, cacheStatus: r.cacheStatus }, started);
  };
}
