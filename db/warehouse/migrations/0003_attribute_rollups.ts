/**
 * 0003: hourly and daily per-attribute rollups, kept by the loader
 * (app/cdc/loader/rollups.ts: every batch recomputes the buckets its facts
 * touch) and read by /v1/analytics (app/query/analytics/sql.ts). Buckets are
 * UTC `timestamp`s (a time zone would make to_char and date_trunc depend on
 * the session's); granularity 'hour' or 'day'. Never edit it once landed.
 */
import { BIN_SQL } from "../../../app/cdc/histogram-bins";
import type { Migration, Table } from "../schema";

const key = ["tenant_id", "attribute_id", "granularity", "bucket"];
// Read by tenant, attribute and time range: the sort key; distributed on the
// attribute so one attribute's buckets are on one slice.
const layout = { distStyle: "key", distKey: "attribute_id", sortKey: { style: "compound", columns: key } } as const;
const bucketColumns = [
  { name: "tenant_id", type: "varchar(36)", notNull: true },
  { name: "attribute_id", type: "int", notNull: true },
  { name: "granularity", type: "varchar(8)", notNull: true },
  { name: "bucket", type: "timestamp", notNull: true },
] as const;

const stats: Table = {
  name: "agg_attribute_stats",
  columns: [
    ...bucketColumns,
    { name: "n", type: "bigint", notNull: true }, // facts
    { name: "n_num", type: "bigint", notNull: true }, // facts with a numeric value
    { name: "sum_num", type: "double precision" },
    { name: "min_num", type: "double precision" },
    { name: "max_num", type: "double precision" },
  ],
  primaryKey: key,
  redshift: layout,
};

// Counts per logarithmic bin of the numeric values (app/cdc/histogram-bins.ts):
// a mergeable sketch, a day's bin is the sum of its hours'. p50/p95 come from it.
const histogram: Table = {
  name: "agg_attribute_histogram",
  columns: [...bucketColumns, { name: "bin", type: "int", notNull: true }, { name: "n", type: "bigint", notNull: true }],
  primaryKey: [...key, "bin"],
  redshift: layout,
};

const hourOf = "date_trunc('hour', ts AT TIME ZONE 'UTC')";

export const migration0003: Migration = {
  version: "0003_attribute_rollups",
  steps: [
    { kind: "createTable", table: stats },
    { kind: "createTable", table: histogram },
    // What was loaded before the rollups existed.
    {
      kind: "sql",
      sql: `INSERT INTO agg_attribute_stats (tenant_id, attribute_id, granularity, bucket, n, n_num, sum_num, min_num, max_num)
SELECT tenant_id, attribute_id, 'hour', ${hourOf}, count(*), count(value_num), sum(value_num), min(value_num), max(value_num)
FROM fact_readings GROUP BY tenant_id, attribute_id, ${hourOf}`,
    },
    {
      kind: "sql",
      sql: `INSERT INTO agg_attribute_stats (tenant_id, attribute_id, granularity, bucket, n, n_num, sum_num, min_num, max_num)
SELECT tenant_id, attribute_id, 'day', date_trunc('day', bucket), sum(n), sum(n_num), sum(sum_num), min(min_num), max(max_num)
FROM agg_attribute_stats WHERE granularity = 'hour' GROUP BY tenant_id, attribute_id, date_trunc('day', bucket)`,
    },
    {
      kind: "sql",
      sql: `INSERT INTO agg_attribute_histogram (tenant_id, attribute_id, granularity, bucket, bin, n)
SELECT tenant_id, attribute_id, 'hour', ${hourOf}, ${BIN_SQL("value_num")}, count(*)
FROM fact_readings WHERE value_num IS NOT NULL
GROUP BY tenant_id, attribute_id, ${hourOf}, ${BIN_SQL("value_num")}`,
    },
    {
      kind: "sql",
      sql: `INSERT INTO agg_attribute_histogram (tenant_id, attribute_id, granularity, bucket, bin, n)
SELECT tenant_id, attribute_id, 'day', date_trunc('day', bucket), bin, sum(n)
FROM agg_attribute_histogram WHERE granularity = 'hour' GROUP BY tenant_id, attribute_id, date_trunc('day', bucket), bin`,
    },
  ],
};
