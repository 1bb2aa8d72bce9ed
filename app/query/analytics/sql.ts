/**
 * The analytics queries against the warehouse. The warehouse has no
 * row-level security (Redshift has none that fits, and the loader writes
 * every tenant), so EVERY query here takes the tenant as its first parameter
 * and filters on it; tests/integration/cdc checks that one tenant never sees
 * another's numbers.
 *
 * Portability: date_trunc, percentile_cont … WITHIN GROUP and count/avg/min/
 * max run on PostgreSQL and Redshift alike. On Redshift, percentile_cont is
 * exact and needs all values of a group on one slice (it redistributes);
 * APPROXIMATE PERCENTILE_DISC(0.95) WITHIN GROUP (ORDER BY value_num) is the
 * cheap alternative for very large ranges.
 */
import type { Pool } from "pg";
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

/**
 * One bucket per UTC hour or day that has readings in [from, to). Statistics
 * are over numeric values (int, decimal); other types get counts only.
 */
export async function attributeBuckets(
  wh: Pool,
  tenantId: string,
  attributeId: number,
  granularity: Granularity,
  from: Date,
  to: Date,
): Promise<Bucket[]> {
  const unit = GRANULARITIES[granularity]; // a constant of ours, never user text
  const { rows } = await wh.query<{
    start: string; count: string; avg: number | null; min: number | null; max: number | null; p50: number | null; p95: number | null;
  }>(
    // The bucket start as fixed-width UTC text: orders like time, and no
    // timestamp-without-zone parsing in the driver's local time zone.
    `SELECT to_char(date_trunc('${unit}', ts AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS start,
            count(*) AS count,
            avg(value_num) AS avg, min(value_num) AS min, max(value_num) AS max,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY value_num) AS p50,
            percentile_cont(0.95) WITHIN GROUP (ORDER BY value_num) AS p95
     FROM fact_readings
     WHERE tenant_id = $1 AND attribute_id = $2 AND ts >= $3 AND ts < $4
     GROUP BY 1
     ORDER BY 1`,
    [tenantId, attributeId, from.toISOString(), to.toISOString()],
  );
  return rows.map((r) => ({
    start: r.start,
    count: Number(r.count),
    avg: r.avg === null ? null : Number(r.avg),
    min: r.min === null ? null : Number(r.min),
    max: r.max === null ? null : Number(r.max),
    p50: r.p50 === null ? null : Number(r.p50),
    p95: r.p95 === null ? null : Number(r.p95),
  }));
}

export interface TypeCount {
  entity_type: string;
  count: number;
}

export async function countEntitiesByType(wh: Pool, tenantId: string): Promise<TypeCount[]> {
  const { rows } = await wh.query<{ entity_type: string; count: string }>(
    `SELECT entity_type, count(*) AS count FROM dim_entities WHERE tenant_id = $1
     GROUP BY entity_type ORDER BY count(*) DESC, entity_type`,
    [tenantId],
  );
  return rows.map((r) => ({ entity_type: r.entity_type, count: Number(r.count) }));
}
