/** GET /v1/entities/{id}/timeseries: raw points, or one aggregate per interval aligned in a time zone. */
import type { Request, Response } from "express";
import { tenantOf } from "../../shared/http/auth";
import { badRequest, notFound } from "../../shared/http/errors";
import { applyFreshness } from "../freshness";
import { cacheLookups } from "../metrics";
import { oltpPolicy, parseEntityId, QueryContext, sendWithFreshness } from "../context";
import type { AttributeDef } from "../catalog";
import { routeRead } from "../routing/route-read";
import { entityExists } from "../sql/entities";
import { aggregatedSeries, Point, rawSeries } from "../sql/timeseries";
import { AGGREGATE_TYPES, parseTimeseriesParams } from "../timeseries/params";

export function timeseriesHandler(ctx: QueryContext) {
  return async (req: Request, res: Response): Promise<void> => {
    const started = process.hrtime.bigint();
    const tenantId = tenantOf(res);
    const policy = oltpPolicy(ctx, req.headers);
    const entityId = parseEntityId(req.params.id);
    const p = parseTimeseriesParams(req.query as Record<string, unknown>, ctx.config.TIMESERIES_MAX_SPAN_DAYS);
    const tz = await ctx.timezones.canonical(p.tz);
    const dict = await ctx.catalog.dictionary(tenantId, p.attributes);
    const attrs: AttributeDef[] = p.attributes.map((name) => {
      const def = dict.get(name);
      if (!def) throw badRequest("unknown_attribute", `unknown attribute '${name}'`, "attributes");
      if (p.agg && !AGGREGATE_TYPES[p.agg].includes(def.dataType)) {
        throw badRequest("invalid_parameter", `agg '${p.agg}' does not apply to ${def.dataType} attribute '${name}'`, "agg");
      }
      return def;
    });

    const r = await routeRead(ctx.primary, ctx.replicas, policy, tenantId, async (c) => {
      if (!(await entityExists(c, tenantId, entityId))) return null;
      const q = { tenantId, entityId, from: p.from, to: p.to };
      const series: Record<string, Point[]> = {};
      let truncated = false;
      for (const attr of attrs) {
        if (p.bucketing && p.agg) {
          series[attr.name] = await aggregatedSeries(c, q, attr, p.bucketing, p.agg, tz);
        } else {
          const raw = await rawSeries(c, q, attr, p.limit);
          series[attr.name] = raw.points;
          truncated ||= raw.truncated;
        }
      }
      return { series, truncated };
    });
    cacheLookups.inc({ endpoint: "timeseries", status: "bypass" });
    const freshness = { source: r.source, lagSeconds: r.lagSeconds, consistency: policy.level, cacheStatus: "bypass" as const };
    if (r.value === null) {
      applyFreshness(res, freshness, started);
      throw notFound(`entity ${entityId} not found`);
    }
    const body = {
      entity_id: Number.isSafeInteger(Number(entityId)) ? Number(entityId) : entityId,
      from: p.from.toISOString(),
      to: p.to.toISOString(),
      ...(p.bucketing ? { interval: p.interval, agg: p.agg, tz } : { truncated: r.value.truncated }),
      series: r.value.series,
    };
    sendWithFreshness(res, "timeseries", body, freshness, started);
  };
}
