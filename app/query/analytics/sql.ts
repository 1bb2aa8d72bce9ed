/**
 * The analytics queries against the warehouse. The warehouse has no
 * row-level security (Redshift has none that fits, and the loader writes
 * every tenant), so EVERY query here takes the tenant as its first parameter
 * and filters on it; tests/integration/cdc checks that one tenant never sees
 * another's numbers.
 *
 * Portability: date_trunc, percentile_disc … WITHIN GROUP, window sums and
 * count/avg/min/max run on PostgreSQL and Redshift alike. Whole buckets are
 * read from the rollups the loader keeps (app/cdc/loader/rollups.ts), so a
 * long range costs its number of buckets, not its number of readings.
 */
import type { Pool } from "pg";
import { binValue } from "../../cdc/histogram-bins";
import { GRANULARITIES, Granularity } from "./params";

export interface AttributeRef {
  attributeId: number;
  dataType: string;
}

export async function findAttribute(wh: Pool, tenantId: string, name: string): Promise<AttributeRef | null> {
  const { rows } = await wh.query<{ attribute_id: number; data_type: string }>(
    "SELECT attribute_id, data_type FROM dim_attributes WHERE tenant_id = $1 AND name = $2",
    [tenantId, name],
  );
  return rows.length === 0 ? null : { attributeId: rows[0].attribute_id, dataType: rows[0].data_type };
}

export interface Bucket {
  start: string;
  count: number;
  avg: number | null;
  min: number | null;
  max: number | null;
  p50: number | null;
  p95: number | null;
}

const UNIT_MS = { hour: 3_600_000, day: 86_400_000 } as const;
const START_TEXT = `'YYYY-MM-DD"T"HH24:MI:SS"Z"'`;
/** A UTC time as a `timestamp` literal (the rollups' bucket type). */
const utcTimestamp = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace("T", " ");

/**
 * One bucket per UTC hour or day that has readings in [from, to). Statistics
 * are over numeric values (int, decimal); other types get counts only.
 * p50/p95 are nearest-rank percentiles.
 *
 * Buckets wholly inside the range come from the rollups (rollups.ts: exact
 * count/avg/min/max; percentiles within 1 % from the histogram, clamped to
 * the bucket's min and max); the partial buckets at a range edge that is
 * not on a bucket boundary come from the raw facts (exact).
 */
export async function attributeBuckets(
  wh: Pool,
  tenantId: string,
  attributeId: number,
  granularity: Granularity,
  from: Date,
  to: Date,
): Promise<Bucket[]> {
  const unit = GRANULARITIES[granularity];
  const step = UNIT_MS[unit];
  const fullFrom = Math.ceil(from.getTime() / step) * step;
  const fullTo = Math.floor(to.getTime() / step) * step;
  if (fullFrom >= fullTo) return rawBuckets(wh, tenantId, attributeId, unit, from.getTime(), to.getTime());
  const [head, body, tail] = await Promise.all([
    fullFrom > from.getTime() ? rawBuckets(wh, tenantId, attributeId, unit, from.getTime(), fullFrom) : [],
    rolledUpBuckets(wh, tenantId, attributeId, unit, fullFrom, fullTo),
    fullTo < to.getTime() ? rawBuckets(wh, tenantId, attributeId, unit, fullTo, to.getTime()) : [],
  ]);
  return [...head, ...body, ...tail];
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

async function rolledUpBuckets(wh: Pool, tenantId: string, attributeId: number, unit: "hour" | "day", fromMs: number, toMs: number): Promise<Bucket[]> {
  const params = [tenantId, attributeId, unit, utcTimestamp(fromMs), utcTimestamp(toMs)];
  const where = "tenant_id = $1 AND attribute_id = $2 AND granularity = $3 AND bucket >= $4::timestamp AND bucket < $5::timestamp";
  const [stats, quantiles] = await Promise.all([
    wh.query<{ start: string; n: string; n_num: string; sum_num: number | null; min_num: number | null; max_num: number | null }>(
      `SELECT to_char(bucket, ${START_TEXT}) AS start, n, n_num, sum_num, min_num, max_num
       FROM agg_attribute_stats WHERE ${where} ORDER BY bucket`,
      params,
    ),
    // The first bin whose running count reaches q of the bucket's numeric values: nearest rank.
    wh.query<{ start: string; b50: number | null; b95: number | null }>(
      `SELECT to_char(bucket, ${START_TEXT}) AS start,
              min(CASE WHEN cum >= 0.5 * total THEN bin END) AS b50,
              min(CASE WHEN cum >= 0.95 * total THEN bin END) AS b95
       FROM (SELECT bucket, bin,
                    sum(n) OVER (PARTITION BY bucket ORDER BY bin ROWS UNBOUNDED PRECEDING) AS cum,
                    sum(n) OVER (PARTITION BY bucket) AS total
             FROM agg_attribute_histogram WHERE ${where}) c
       GROUP BY bucket`,
      params,
    ),
  ]);
  const q = new Map(quantiles.rows.map((r) => [r.start, r]));
  return stats.rows.map((r) => {
    const min = num(r.min_num);
    const max = num(r.max_num);
    const clamp = (bin: number | null) => (bin === null || min === null || max === null ? null : Math.min(max, Math.max(min, binValue(Number(bin)))));
    const quantile = q.get(r.start);
    return {
      start: r.start,
      count: Number(r.n),
      avg: Number(r.n_num) > 0 && r.sum_num !== null ? Number(r.sum_num) / Number(r.n_num) : null,
      min,
      max,
      p50: clamp(quantile?.b50 ?? null),
      p95: clamp(quantile?.b95 ?? null),
    };
  });
}

async function rawBuckets(wh: Pool, tenantId: string, attributeId: number, unit: "hour" | "day", fromMs: number, toMs: number): Promise<Bucket[]> {
  const { rows } = await wh.query<{
    start: string; count: string; avg: number | null; min: number | null; max: number | null; p50: number | null; p95: number | null;
  }>(
    // The bucket start as fixed-width UTC text: orders like time, and no
    // timestamp-without-zone parsing in the driver's local time zone.
    `SELECT to_char(date_trunc('${unit}', ts AT TIME ZONE 'UTC'), ${START_TEXT}) AS start,
            count(*) AS count,
            avg(value_num) AS avg, min(value_num) AS min, max(value_num) AS max,
            percentile_disc(0.5) WITHIN GROUP (ORDER BY value_num) AS p50,
            percentile_disc(0.95) WITHIN GROUP (ORDER BY value_num) AS p95
     FROM fact_readings
     WHERE tenant_id = $1 AND attribute_id = $2 AND ts >= $3 AND ts < $4
     GROUP BY 1
     ORDER BY 1`,
    [tenantId, attributeId, new Date(fromMs).toISOString(), new Date(toMs).toISOString()],
  );
  return rows.map((r) => ({ start: r.start, count: Number(r.count), avg: num(r.avg), min: num(r.min), max: num(r.max), p50: num(r.p50), p95: num(r.p95) }));
}

export interface TypeCount {
  /** null: entities no reading has named a type for yet. */
  entity_type: string | null;
  count: number;
}

export async function countEntitiesByType(wh: Pool, tenantId: string): Promise<TypeCount[]> {
  const { rows } = await wh.query<{ entity_type: string | null; count: string }>(
    `SELECT NULLIF(entity_type, '') AS entity_type, count(*) AS count FROM dim_entities WHERE tenant_id = $1
     GROUP BY entity_type ORDER BY count(*) DESC, entity_type`,
    [tenantId],
  );
  return rows.map((r) => ({ entity_type: r.entity_type, count: Number(r.count) }));
}
