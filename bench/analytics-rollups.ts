/**
 * Analytics over long ranges: the rollups (app/cdc/loader/rollups.ts) against
 * aggregating raw facts, on a scratch warehouse database of the stack's server
 * with N facts of one attribute over 400 days (default 4M).
 *
 *   set -a; . .atlas/stack.env; set +a
 *   N=4000000 node -r ts-node/register/transpile-only bench/analytics-rollups.ts
 *
 * Prints the median of 5 runs of each query and the ratio (same run).
 */
import { Client, Pool } from "pg";
import { migrateWarehouse } from "../db/warehouse/migrate";
import { attributeBuckets } from "../app/query/analytics/sql";
const base = process.env.DATABASE_URL!;
const url = (db: string) => { const u = new URL(base); u.pathname = "/" + db; return u.toString(); };
(async () => {
  const admin = new Client({ connectionString: base }); await admin.connect();
  await admin.query("DROP DATABASE IF EXISTS rollbench"); await admin.query("CREATE DATABASE rollbench"); await admin.end();
  const wh = new Pool({ connectionString: url("rollbench"), max: 2 });
  await migrateWarehouse(wh);
  await wh.query("TRUNCATE agg_attribute_stats, agg_attribute_histogram");
  const T = "00000000-0000-4000-8000-00000000000a";
  const n = Number(process.env.N ?? 4_000_000);
  const t0 = Date.now();
  await wh.query(`INSERT INTO fact_readings (tenant_id, entity_id, attribute_id, ts, day, data_type, value_num, source_ts, source_lsn, loaded_at)
    SELECT $1, i % 1000, 1, ts, ts::date, 'decimal', (i % 997) * 0.5, ts, i, now()
    FROM (SELECT i, timestamptz '2025-11-01' + (i * (400 * 86400.0 / $2)) * interval '1 second' AS ts FROM generate_series(1, $2) i) g`, [T, n]);
  console.log(`facts ${n} inserted in ${Date.now() - t0} ms`);
  // The rollups as migration 0003 backfills them (the same statements).
  const { migration0003 } = await import("../db/warehouse/migrations/0003_attribute_rollups");
  for (const step of migration0003.steps) if (step.kind === "sql") await wh.query(step.sql);
  await wh.query("ANALYZE");
  const from = new Date("2025-11-01T00:00:00Z");
  const time = async (label: string, fn: () => Promise<unknown>) => {
    const xs: number[] = [];
    for (let i = 0; i < 5; i++) { const s = process.hrtime.bigint(); await fn(); xs.push(Number(process.hrtime.bigint() - s) / 1e6); }
    xs.sort((a, b) => a - b); console.log(label, "median ms", xs[2].toFixed(1)); return xs[2];
  };
  const raw = await time("raw daily 395 d", () => wh.query(`SELECT to_char(date_trunc('day', ts AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS start, count(*), avg(value_num), min(value_num), max(value_num),
      percentile_disc(0.5) WITHIN GROUP (ORDER BY value_num), percentile_disc(0.95) WITHIN GROUP (ORDER BY value_num)
      FROM fact_readings WHERE tenant_id = $1 AND attribute_id = 1 AND ts >= $2 AND ts < $3 GROUP BY 1`, [T, from.toISOString(), new Date("2026-11-30T00:00:00Z").toISOString()]));
  const rolled = await time("rollup daily 395 d", () => attributeBuckets(wh, T, 1, "daily", from, new Date("2026-11-30T00:00:00Z")));
  const rawH = await time("raw hourly 31 d", () => wh.query(`SELECT to_char(date_trunc('hour', ts AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24') AS start, count(*), avg(value_num), min(value_num), max(value_num),
      percentile_disc(0.5) WITHIN GROUP (ORDER BY value_num), percentile_disc(0.95) WITHIN GROUP (ORDER BY value_num)
      FROM fact_readings WHERE tenant_id = $1 AND attribute_id = 1 AND ts >= $2 AND ts < $3 GROUP BY 1`, [T, "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"]));
  const rolledH = await time("rollup hourly 31 d", () => attributeBuckets(wh, T, 1, "hourly", new Date("2026-10-01T00:00:00Z"), new Date("2026-11-01T00:00:00Z")));
  console.log(`speedup daily ${(raw / rolled).toFixed(1)}x, hourly ${(rawH / rolledH).toFixed(1)}x`);
  await wh.end();
  const a2 = new Client({ connectionString: base }); await a2.connect(); await a2.query("DROP DATABASE rollbench"); await a2.end();
})();
