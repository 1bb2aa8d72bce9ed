/**
 * Reads of the history (entity_values_ts), one statement per attribute so
 * each is an index range scan on (tenant_id, entity_id, attribute_id, ts) in
 * the partitions the [from, to) range prunes to. The value column comes from
 * a fixed map by the attribute's type; names and values are parameters.
 */
import type { PoolClient } from "pg";
import type { AttributeDef, DataType } from "../catalog";
import type { Aggregate, Bucketing } from "../timeseries/params";

export interface Point {
  ts: string;
  value: unknown;
}

const COLUMN: Record<DataType, string> = {
  int: "value_int",
  decimal: "value_decimal",
  bool: "value_bool",
  string: "value_string",
  timestamp: "value_ts",
};

/** SQL yielding the value with a JSON-friendly type (ints as text: bigint exceeds a double). */
function valueSql(type: DataType): string {
  return type === "int" ? "value_int::text" : COLUMN[type];
}

function aggregateSql(agg: Aggregate, type: DataType): string {
  const col = COLUMN[type];
  switch (agg) {
    case "avg":
      return `avg(${col})::float8`;
    case "sum":
      return type === "int" ? `sum(${col})::text` : `sum(${col})`;
    case "min":
    case "max":
      return type === "int" ? `${agg}(${col})::text` : type === "string" ? `${agg}(${col} COLLATE "C")` : `${agg}(${col})`;
    case "count":
      return "count(*)::int";
    case "last":
      return `(array_agg(${valueSql(type)} ORDER BY ts DESC))[1]`;
  }
}

/** Converts a column value to JSON: numeric text to a number when exact, timestamps to ISO. */
function jsonValue(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "string" && /^-?\d+$/.test(v)) return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  if (typeof v === "string" && /^-?\d+\.\d+(e[+-]?\d+)?$/i.test(v)) return Number(v);
  return v;
}

function stringsAsIs(type: DataType, agg?: Aggregate): boolean {
  return type === "string" && agg !== "count" && agg !== "sum" && agg !== "avg";
}

export interface SeriesQuery {
  tenantId: string;
  entityId: string;
  from: Date;
  to: Date;
}

/** The raw-points statement ($1 tenant, $2 entity, $3 attribute, $4 from, $5 to, $6 limit); exported for EXPLAIN checks. */
export function rawSeriesSql(type: DataType): string {
  return `SELECT ts, ${valueSql(type)} AS value
     FROM entity_values_ts
     WHERE tenant_id = $1 AND entity_id = $2::bigint AND attribute_id = $3 AND ts >= $4 AND ts < $5
     ORDER BY ts
     LIMIT $6`;
}

/** Raw points of one attribute in [from, to), oldest first, at most `limit` (+1 fetched to tell truncation). */
export async function rawSeries(client: PoolClient, q: SeriesQuery, attr: AttributeDef, limit: number): Promise<{ points: Point[]; truncated: boolean }> {
  const { rows } = await client.query<{ ts: Date; value: unknown }>(rawSeriesSql(attr.dataType), [
    q.tenantId,
    q.entityId,
    attr.attributeId,
    q.from,
    q.to,
    limit + 1,
  ]);
  const keep = stringsAsIs(attr.dataType);
  return {
    points: rows.slice(0, limit).map((r) => ({ ts: r.ts.toISOString(), value: keep ? r.value : jsonValue(r.value) })),
    truncated: rows.length > limit,
  };
}

/** Bucket expression: see timeseries/params.ts Bucketing. $6 is the stride or unit, $7 the time zone. */
function bucketSql(b: Bucketing): string {
  return b.kind === "stride"
    ? "date_bin($6::interval, ts, date_trunc('day', ts, $7::text))"
    : "date_trunc($6::text, ts, $7::text)";
}

/** One aggregated point per bucket that has readings, ascending. */
export async function aggregatedSeries(
  client: PoolClient,
  q: SeriesQuery,
  attr: AttributeDef,
  bucketing: Bucketing,
  agg: Aggregate,
  tz: string,
): Promise<Point[]> {
  const { rows } = await client.query<{ bucket: Date; value: unknown }>(
    `SELECT ${bucketSql(bucketing)} AS bucket, ${aggregateSql(agg, attr.dataType)} AS value
     FROM entity_values_ts
     WHERE tenant_id = $1 AND entity_id = $2::bigint AND attribute_id = $3 AND ts >= $4 AND ts < $5
     GROUP BY 1
     ORDER BY 1`,
    [q.tenantId, q.entityId, attr.attributeId, q.from, q.to, bucketing.kind === "stride" ? bucketing.stride : bucketing.unit, tz],
  );
  const keep = stringsAsIs(attr.dataType, agg);
  return rows.map((r) => ({ ts: r.bucket.toISOString(), value: keep ? r.value : jsonValue(r.value) }));
}
