/**
 * Query parameters of GET /v1/entities/{id}/timeseries, validated up front;
 * every problem is a 400 naming the parameter.
 */
import { badRequest } from "../../shared/http/errors";
import { parseAttributeNames } from "../attribute-selection";
import type { DataType } from "../catalog";

export const AGGREGATES = ["avg", "min", "max", "sum", "count", "last"] as const;
export type Aggregate = (typeof AGGREGATES)[number];

/** Which attribute types each aggregate applies to. */
export const AGGREGATE_TYPES: Record<Aggregate, readonly DataType[]> = {
  avg: ["int", "decimal"],
  sum: ["int", "decimal"],
  min: ["int", "decimal", "timestamp", "string"],
  max: ["int", "decimal", "timestamp", "string"],
  count: ["int", "decimal", "bool", "string", "timestamp"],
  last: ["int", "decimal", "bool", "string", "timestamp"],
};

/**
 * How buckets are cut. Sub-day intervals are fixed strides counted from the
 * local midnight of the reading's day (`date_bin(stride, ts, local midnight)`),
 * so they align to local wall-clock boundaries; days, weeks (Monday) and
 * months use `date_trunc(unit, ts, tz)`, so a day is a local calendar day
 * across DST (23 or 25 hours long).
 */
export type Bucketing = { kind: "stride"; stride: string; seconds: number } | { kind: "calendar"; unit: "day" | "week" | "month"; seconds: number };

export const MAX_ATTRIBUTES = 20;
export const MAX_BUCKETS = 50_000;
export const DEFAULT_RAW_LIMIT = 10_000;
export const MAX_RAW_LIMIT = 100_000;

const MINUTE_STEPS = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30];
const HOUR_STEPS = [1, 2, 3, 4, 6, 8, 12];

export function parseInterval(raw: string): Bucketing {
  const m = /^(\d{1,2})(m|h|d|w|M)$/.exec(raw);
  const n = m ? Number(m[1]) : NaN;
  if (m?.[2] === "m" && MINUTE_STEPS.includes(n)) return { kind: "stride", stride: `${n} minutes`, seconds: n * 60 };
  if (m?.[2] === "h" && HOUR_STEPS.includes(n)) return { kind: "stride", stride: `${n} hours`, seconds: n * 3600 };
  if (n === 1 && m?.[2] === "d") return { kind: "calendar", unit: "day", seconds: 86_400 };
  if (n === 1 && m?.[2] === "w") return { kind: "calendar", unit: "week", seconds: 7 * 86_400 };
  if (n === 1 && m?.[2] === "M") return { kind: "calendar", unit: "month", seconds: 28 * 86_400 };
  throw badRequest(
    "invalid_parameter",
    `interval must be one of ${MINUTE_STEPS.map((s) => `${s}m`).join(", ")}, ${HOUR_STEPS.map((s) => `${s}h`).join(", ")}, 1d, 1w, 1M`,
    "interval",
  );
}

export interface TimeseriesParams {
  attributes: string[];
  from: Date;
  to: Date;
  /** Absent: raw points. */
  bucketing?: Bucketing;
  interval?: string;
  agg?: Aggregate;
  /** As given; checked against pg_timezone_names by the caller. */
  tz: string;
  /** Raw points returned at most (over all attributes). */
  limit: number;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/;

function single(query: Record<string, unknown>, name: string): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw badRequest("invalid_parameter", `${name} must be given once`, name);
  return v;
}

function instant(query: Record<string, unknown>, name: "from" | "to"): Date {
  const v = single(query, name);
  if (v === undefined || v === "") throw badRequest("invalid_parameter", `${name} is required (ISO 8601, e.g. 2026-11-24T00:00:00Z)`, name);
  const d = ISO_INSTANT.test(v) ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime())) {
    throw badRequest("invalid_parameter", `${name} must be an ISO 8601 date or timestamp with a zone, e.g. 2026-11-24T00:00:00Z`, name);
  }
  return d;
}

export function parseTimeseriesParams(query: Record<string, unknown>, maxSpanDays: number): TimeseriesParams {
  const rawAttrs = single(query, "attributes");
  const attributes = parseAttributeNames(rawAttrs);
  if (attributes.length === 0) throw badRequest("invalid_parameter", "attributes is required: a comma-separated list of attribute names", "attributes");
  if (attributes.length > MAX_ATTRIBUTES) throw badRequest("invalid_parameter", `at most ${MAX_ATTRIBUTES} attributes`, "attributes");

  const from = instant(query, "from");
  const to = instant(query, "to");
  if (to.getTime() <= from.getTime()) throw badRequest("invalid_parameter", "to must be after from", "to");
  if (to.getTime() - from.getTime() > maxSpanDays * 86_400_000) {
    throw badRequest("invalid_parameter", `the span from..to must be at most ${maxSpanDays} days`, "to");
  }

  const interval = single(query, "interval");
  const rawAgg = single(query, "agg");
  let bucketing: Bucketing | undefined;
  let agg: Aggregate | undefined;
  if (interval !== undefined) {
    bucketing = parseInterval(interval);
    agg = (rawAgg ?? "avg") as Aggregate;
    if (!(AGGREGATES as readonly string[]).includes(agg)) {
      throw badRequest("invalid_parameter", `agg must be one of ${AGGREGATES.join(", ")}`, "agg");
    }
    const buckets = (to.getTime() - from.getTime()) / 1000 / bucketing.seconds;
    if (buckets > MAX_BUCKETS) {
      throw badRequest("invalid_parameter", `interval ${interval} gives ${Math.ceil(buckets)} buckets over from..to; at most ${MAX_BUCKETS}`, "interval");
    }
  } else if (rawAgg !== undefined) {
    throw badRequest("invalid_parameter", "agg needs an interval (e.g. interval=1h&agg=avg)", "interval");
  }

  const tz = single(query, "tz") ?? "UTC";
  if (tz.length === 0 || tz.length > 64) throw badRequest("invalid_parameter", "tz must be an IANA time zone name, e.g. Europe/Berlin", "tz");

  const rawLimit = single(query, "limit");
  let limit = DEFAULT_RAW_LIMIT;
  if (rawLimit !== undefined) {
    limit = /^\d{1,6}$/.test(rawLimit) ? Number(rawLimit) : NaN;
    if (!(limit >= 1 && limit <= MAX_RAW_LIMIT)) throw badRequest("invalid_parameter", `limit must be an integer from 1 to ${MAX_RAW_LIMIT}`, "limit");
  }
  return { attributes, from, to, bucketing, interval, agg, tz, limit };
}
