/**
 * The warehouse rollups (app/cdc/loader/rollups.ts) against an aggregation of
 * the raw facts, on the real pipeline: after a late reading, a delete on the
 * primary, and a redelivery of the whole change stream of the test.
 */
import { expect } from "chai";
import { randomUUID } from "crypto";
import { Pool } from "pg";
import { createKafka } from "../../../app/ingest/kafka";
import type { Loader } from "../../../app/cdc/loader/loader";
import { createTenant } from "../../../app/shared/tenants";
import { flush } from "../../helpers/db";
import { ensurePipeline, factCount, newGroupId, sourceTopics, stack, startTestLoader, waitFor, startAnalyticsApi } from "./harness";

const HOUR = 3_600_000;
const DAY0 = Date.UTC(2026, 10, 18);

describe("warehouse rollups equal an aggregation of the raw facts", function () {
  this.timeout(240_000);
  let pool: Pool;
  let wh: Pool;
  let loader: Loader | undefined;
  let api: { url: string; close(): Promise<void> } | undefined;
  let url: string;
  let tenantId: string;
  let apiKey: string;
  let attributeId: number;
  const groupId = newGroupId();
  const start: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> = [];

  const kafkaAdmin = () => createKafka({ brokers: stack().brokers, clientId: "atlas-rollup-test" }).admin();

  /** Rollup rows and the same numbers computed from fact_readings, per granularity. */
  async function compare(): Promise<void> {
    for (const unit of ["hour", "day"]) {
      const raw = await wh.query(
        `SELECT to_char(date_trunc('${unit}', ts AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24') AS b, count(*)::int AS n, count(value_num)::int AS n_num,
                sum(value_num) AS s, min(value_num) AS lo, max(value_num) AS hi
         FROM fact_readings WHERE tenant_id = $1 AND attribute_id = $2 GROUP BY 1 ORDER BY 1`,
        [tenantId, attributeId],
      );
      const rolled = await wh.query(
        `SELECT to_char(bucket, 'YYYY-MM-DD HH24') AS b, n::int AS n, n_num::int AS n_num, sum_num AS s, min_num AS lo, max_num AS hi
         FROM agg_attribute_stats WHERE tenant_id = $1 AND attribute_id = $2 AND granularity = $3 ORDER BY 1`,
        [tenantId, attributeId, unit],
      );
      expect(rolled.rows.map((r) => ({ ...r, s: Number(r.s) })), unit).to.deep.equal(raw.rows.map((r) => ({ ...r, s: Number(r.s) })));
    }
    // The API's percentiles: nearest rank within the sketch's 1 %, clamped to the bucket's range.
    for (const [g, unit] of [["hourly", "hour"], ["daily", "day"]] as const) {
      const exact = await wh.query(
        `SELECT to_char(date_trunc('${unit}', ts AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS start,
                percentile_disc(0.5) WITHIN GROUP (ORDER BY value_num) AS p50, percentile_disc(0.95) WITHIN GROUP (ORDER BY value_num) AS p95
         FROM fact_readings WHERE tenant_id = $1 AND attribute_id = $2 GROUP BY 1 ORDER BY 1`,
        [tenantId, attributeId],
      );
      const res = await fetch(`${url}/v1/analytics/attributes/temperature/${g}?from=${new Date(DAY0).toISOString()}&to=${new Date(DAY0 + 2 * 86_400_000).toISOString()}`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      const body = (await res.json()) as { buckets: Array<{ start: string; p50: number; p95: number }> };
      expect(body.buckets.map((b) => b.start), g).to.deep.equal(exact.rows.map((r) => r.start));
      body.buckets.forEach((b, i) => {
        expect(b.p50, `${g} ${b.start} p50`).to.be.closeTo(Number(exact.rows[i].p50), Math.abs(Number(exact.rows[i].p50)) * 0.01 + 1e-9);
        expect(b.p95, `${g} ${b.start} p95`).to.be.closeTo(Number(exact.rows[i].p95), Math.abs(Number(exact.rows[i].p95)) * 0.01 + 1e-9);
      });
    }
  }

  before(async function () {
    this.timeout(240_000);
    await ensurePipeline();
    pool = new Pool({ connectionString: stack().databaseUrl, max: 4 });
    wh = new Pool({ connectionString: stack().warehouseUrl, max: 4 });
    const admin = kafkaAdmin();
    await admin.connect();
    try {
      for (const topic of sourceTopics()) {
        start.push({ topic, partitions: (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, offset: o.high })) });
      }
    } finally {
      await admin.disconnect();
    }
    loader = await startTestLoader({ groupId });
    const t = await createTenant(pool, `rollups-${randomUUID().slice(0, 8)}`);
    tenantId = t.tenant_id;
    apiKey = t.api_key;
    attributeId = (
      await pool.query("INSERT INTO attributes (tenant_id, name, data_type) VALUES ($1, 'temperature', 'decimal') RETURNING attribute_id", [tenantId])
    ).rows[0].attribute_id;
    // 3 hours of day 0 and one of day 1; skewed values so that p95 differs from the mean.
    const rows = [];
    for (let i = 0; i < 240; i++) {
      const hour = [1, 2, 5, 30][i % 4];
      rows.push({ tenant_id: tenantId, entity_id: 1 + (i % 12), entity_type: "sensor", attribute_id: attributeId,
        ts: new Date(DAY0 + hour * HOUR + i * 7_000).toISOString(), value_decimal: (i % 10 === 0 ? 500 : 1) + (i % 37) * 0.25 });
    }
    await flush(pool, randomUUID(), rows);
    await waitFor(async () => (await factCount(wh, tenantId)) === 240, 90_000, "240 facts");

    api = await startAnalyticsApi(pool, wh);
    url = api.url;
  });

  after(async () => {
    await api?.close();
    await loader?.stop();
    await pool?.end();
    await wh?.end();
  });

  it("when the facts are loaded, then hourly and daily rollups equal the raw aggregation", async () => {
    await compare();
  });

  it("when a late reading arrives for an old hour and a reading is deleted on the primary, then those buckets are recomputed", async () => {
    await flush(pool, randomUUID(), [{ tenant_id: tenantId, entity_id: 99, attribute_id: attributeId, ts: new Date(DAY0 + 1 * HOUR + 59_000).toISOString(), value_decimal: -40 }]);
    await pool.query("DELETE FROM entity_values_ts WHERE tenant_id = $1 AND entity_id = 1 AND ts = $2", [tenantId, new Date(DAY0 + 1 * HOUR).toISOString()]);
    await waitFor(async () => {
      const r = await wh.query(
        "SELECT count(*) FILTER (WHERE entity_id = 99)::int AS late, count(*) FILTER (WHERE entity_id = 1 AND ts = $2)::int AS deleted FROM fact_readings WHERE tenant_id = $1",
        [tenantId, new Date(DAY0 + 1 * HOUR).toISOString()],
      );
      return r.rows[0].late === 1 && r.rows[0].deleted === 0;
    }, 90_000, "late reading in, deleted reading out");
    await waitFor(async () => {
      const r = await wh.query("SELECT min(min_num) AS lo FROM agg_attribute_stats WHERE tenant_id = $1 AND granularity = 'day'", [tenantId]);
      return Number(r.rows[0].lo) === -40;
    }, 30_000, "the late reading in the day's rollup");
    await compare();
  });

  it("when the whole change stream of this test is delivered again, then the rollups do not change", async () => {
    const before = (await wh.query("SELECT * FROM agg_attribute_stats WHERE tenant_id = $1 ORDER BY granularity, bucket", [tenantId])).rows;
    await loader!.stop();
    loader = undefined;
    const admin = kafkaAdmin();
    await admin.connect();
    try {
      for (const s of start) await admin.setOffsets({ groupId, topic: s.topic, partitions: s.partitions });
    } finally {
      await admin.disconnect();
    }
    let batches = 0;
    loader = await startTestLoader({ groupId, fresh: false, onBatch: (b) => (batches += b.counts.facts > 0 ? 1 : 0) });
    await waitFor(async () => batches > 0, 60_000, "a redelivered batch of facts");
    await new Promise((r) => setTimeout(r, 3_000));
    const after = (await wh.query("SELECT * FROM agg_attribute_stats WHERE tenant_id = $1 ORDER BY granularity, bucket", [tenantId])).rows;
    expect(after).to.deep.equal(before);
    await compare();
  });
});
