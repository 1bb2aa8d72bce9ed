/**
 * Parameters of GET /v1/analytics/attributes/{name}/{hourly|daily}, checked
 * up front; every problem is a 400 naming the parameter.
 */
import { badRequest } from "../../shared/http/errors";

export const GRANULARITIES = { hourly: "hour", daily: "day" } as const;
export type Granularity = keyof typeof GRANULARITIES;

/**
 * Longest range per granularity: 31 days of hours (744 buckets) and 400 days
 * of days (the history's retention). Wider questions go to the warehouse
 * directly (BI tools), not through the API.
 */
export const MAX_SPAN_DAYS: Record<Granularity, number> = { hourly: 31, daily: 400 };

export interface AnalyticsParams {
  name: string;
  granularity: Granularity;
  from: Date;
  to: Date;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/;

function instant(query: Record<string, unknown>, name: "from" | "to"): Date {
  const v = query[name];
  if (v === undefined || v === "") throw badRequest("invalid_parameter", `${name} is required (ISO 8601, e.g. 2026-11-24T00:00:00Z)`, name);
  if (typeof v !== "string") throw badRequest("invalid_parameter", `${name} must be given once`, name);
  const d = ISO_INSTANT.test(v) ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw badRequest("invalid_parameter", `${name} must be an ISO 8601 time, e.g. 2026-11-24T00:00:00Z`, name);
  return d;
}

export function parseAnalyticsParams(params: Record<string, string>, query: Record<string, unknown>): AnalyticsParams {
  const name = params.name ?? "";
  if (name.length < 1 || name.length > 128) throw badRequest("invalid_parameter", "attribute name must be 1 to 128 characters", "name");
  const granularity = params.granularity;
  if (!(granularity in GRANULARITIES)) {
    throw badRequest("invalid_parameter", "granularity must be hourly or daily", "granularity");
  }
  const g = granularity as Granularity;
  const from = instant(query, "from");
  const to = instant(query, "to");
  if (to <= from) throw badRequest("invalid_parameter", "to must be after from", "to");
  if (to.getTime() - from.getTime() > MAX_SPAN_DAYS[g] * 86_400_000) {
    throw badRequest("invalid_parameter", `a ${g} range may span at most ${MAX_SPAN_DAYS[g]} days`, "to");
  }
  return { name, granularity: g, from, to };
}
