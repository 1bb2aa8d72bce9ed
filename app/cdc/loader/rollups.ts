/**
 * Hourly and daily per-attribute rollups in the warehouse, maintained by the
 * loader in the same transaction as the facts they summarise:
 *
 *   agg_attribute_stats      count, numeric count, sum, min, max per bucket
 *   agg_attribute_histogram  per bucket, counts per logarithmic bin of the
 *                            numeric values: a mergeable sketch (DDSketch's
 *                            bins, relative accuracy 1 %) for p50/p95
 *
 * Incremental and exact under redelivery, late data and deletes by
 * construction: a batch RECOMPUTES only the (tenant, attribute, hour)
 * buckets its facts touch, from the facts as they now stand, and then the
 * days holding those hours from their hours. Recomputing a bucket twice gives
 * the same row, a late reading is just one more fact in an old bucket, and a
 * deleted fact is simply absent on recompute. Cost per batch: one hour of one
 * attribute per touched bucket, read along fact_readings' sort key
 * (tenant_id, attribute_id, ts).
 *
 * Portable to Redshift: DELETE … USING + INSERT … SELECT, LN/FLOOR/SIGN,
 * `timestamp AT TIME ZONE 'UTC'`; buckets are UTC `timestamp`s.
 */
import type { PoolClient } from "../../shared/db";
import { BIN_SQL } from "../histogram-bins";
import { createStage, dropStage, type Staging } from "./apply";
import type { BatchPlan } from "./plan";

/** `YYYY-MM-DD HH:00:00`: the UTC hour of an ISO time, as a timestamp literal. */
function utcHour(iso: string): string {
  const d = new Date(iso);
  d.setUTCMinutes(0, 0, 0);
  return d.toISOString().slice(0, 19).replace("T", " ");
}

/** Recomputes every bucket the plan's facts touch. Call after the facts were merged, in the same transaction. */
export async function refreshRollups(client: PoolClient, plan: BatchPlan, staging: Staging): Promise<number> {
  const touched = new Map<string, [string, number, string]>();
  for (const f of [...plan.facts.upserts, ...plan.facts.deletes]) {
    const hour = utcHour(f.ts);
    touched.set(`${f.tenant_id}|${f.attribute_id}|${hour}`, [f.tenant_id, f.attribute_id, hour]);
  }
  if (touched.size === 0) return 0;
  await createStage(client, staging, {
    name: "cdc_stage_buckets",
    columns: [["tenant_id", "varchar(36)"], ["attribute_id", "int"], ["bucket", "timestamp"]],
  }, [...touched.values()]);

  const hourKey = `a.tenant_id = s.tenant_id AND a.attribute_id = s.attribute_id AND a.granularity = 'hour' AND a.bucket = s.bucket`;
  const factsOfHour = `FROM cdc_stage_buckets s
    JOIN fact_readings f ON f.tenant_id = s.tenant_id AND f.attribute_id = s.attribute_id
     AND f.ts >= (s.bucket AT TIME ZONE 'UTC') AND f.ts < ((s.bucket + interval '1 hour') AT TIME ZONE 'UTC')`;
  await client.query(`DELETE FROM agg_attribute_stats a USING cdc_stage_buckets s WHERE ${hourKey}`);
  await client.query(
    `INSERT INTO agg_attribute_stats (tenant_id, attribute_id, granularity, bucket, n, n_num, sum_num, min_num, max_num)
     SELECT s.tenant_id, s.attribute_id, 'hour', s.bucket, count(*), count(f.value_num), sum(f.value_num), min(f.value_num), max(f.value_num)
     ${factsOfHour}
     GROUP BY s.tenant_id, s.attribute_id, s.bucket`,
  );
  await client.query(`DELETE FROM agg_attribute_histogram a USING cdc_stage_buckets s WHERE ${hourKey}`);
  await client.query(
    `INSERT INTO agg_attribute_histogram (tenant_id, attribute_id, granularity, bucket, bin, n)
     SELECT s.tenant_id, s.attribute_id, 'hour', s.bucket, ${BIN_SQL("f.value_num")}, count(*)
     ${factsOfHour}
     WHERE f.value_num IS NOT NULL
     GROUP BY s.tenant_id, s.attribute_id, s.bucket, ${BIN_SQL("f.value_num")}`,
  );

  // The days of those hours, from their hours (mergeable: sums, min of mins, …).
  await client.query("CREATE TEMP TABLE cdc_stage_days (tenant_id varchar(36), attribute_id int, bucket timestamp)");
  await client.query(
    `INSERT INTO cdc_stage_days (tenant_id, attribute_id, bucket)
     SELECT DISTINCT tenant_id, attribute_id, date_trunc('day', bucket) FROM cdc_stage_buckets`,
  );
  const dayKey = `a.tenant_id = s.tenant_id AND a.attribute_id = s.attribute_id AND a.granularity = 'day' AND a.bucket = s.bucket`;
  const hoursOfDay = (table: string) => `FROM cdc_stage_days s
    JOIN ${table} h ON h.tenant_id = s.tenant_id AND h.attribute_id = s.attribute_id AND h.granularity = 'hour'
     AND h.bucket >= s.bucket AND h.bucket < s.bucket + interval '1 day'`;
  await client.query(`DELETE FROM agg_attribute_stats a USING cdc_stage_days s WHERE ${dayKey}`);
  await client.query(
    `INSERT INTO agg_attribute_stats (tenant_id, attribute_id, granularity, bucket, n, n_num, sum_num, min_num, max_num)
     SELECT s.tenant_id, s.attribute_id, 'day', s.bucket, sum(h.n), sum(h.n_num), sum(h.sum_num), min(h.min_num), max(h.max_num)
     ${hoursOfDay("agg_attribute_stats")}
     GROUP BY s.tenant_id, s.attribute_id, s.bucket`,
  );
  await client.query(`DELETE FROM agg_attribute_histogram a USING cdc_stage_days s WHERE ${dayKey}`);
  await client.query(
    `INSERT INTO agg_attribute_histogram (tenant_id, attribute_id, granularity, bucket, bin, n)
     SELECT s.tenant_id, s.attribute_id, 'day', s.bucket, h.bin, sum(h.n)
     ${hoursOfDay("agg_attribute_histogram")}
     GROUP BY s.tenant_id, s.attribute_id, s.bucket, h.bin`,
  );
  await dropStage(client, "cdc_stage_days");
  await dropStage(client, "cdc_stage_buckets");
  return touched.size;
}
