/**
 * The replication flow on the real stack: PostgreSQL (pgoutput) → Debezium
 * (Kafka Connect) → Kafka → the loader → the warehouse.
 */
import { expect } from "chai";
import { randomUUID } from "crypto";
import { Pool } from "pg";
import type { Loader } from "../../../app/cdc/loader/loader";
import { readWarehouseLag } from "../../../app/cdc/watermark";
import { flush } from "../../helpers/db";
import { newTenant, post, registerAttributes, startApi, testConfig, type RunningApi } from "../ingest/harness";
import {
  ensurePipeline, factCount, historyCount, newGroupId, newTenantWithAttributes, quantile, stack, startTestLoader, waitFor,
} from "./harness";

describe("CDC pipeline: primary → Debezium → Kafka → warehouse", function () {
  this.timeout(180_000);
  let pool: Pool;
  let wh: Pool;
  let loader: Loader;

  before(async function () {
    this.timeout(180_000);
    await ensurePipeline();
    pool = new Pool({ connectionString: stack().databaseUrl, max: 4 });
    wh = new Pool({ connectionString: stack().warehouseUrl, max: 4 });
    loader = await startTestLoader({ groupId: newGroupId() });
  });

  after(async () => {
    await loader?.stop();
    await pool?.end();
    await wh?.end();
  });

  describe("readings ingested over HTTP", () => {
    let api: RunningApi;
    before(async () => {
      api = await startApi({ config: testConfig(stack().databaseUrl), pool, mode: "direct" });
    });
    after(async () => api?.close());

    it("when 3,000 readings are ingested over HTTP, then all of them reach the warehouse, enriched, and the end-to-end lag is measured", async () => {
      const tenant = await newTenant(pool);
      await registerAttributes(api.url, tenant.api_key, [["temperature", "decimal"], ["status", "string"]]);
      const base = Date.now() - 3_600_000;
      const requests = 30;
      for (let r = 0; r < requests; r++) {
        const readings = Array.from({ length: 50 }, (_, i) => ({
          entity_id: r * 50 + i + 1,
          entity_type: i % 2 ? "sensor" : "gateway",
          ts: new Date(base + r * 1000).toISOString(),
          values: { temperature: 20 + (i % 10), status: "online" },
        }));
        const res = await post(`${api.url}/v1/telemetry`, tenant.api_key, { readings });
        expect(res.status, JSON.stringify(res.body)).to.equal(202);
      }
      const expected = requests * 50 * 2;
      expect(await historyCount(pool, tenant.tenant_id)).to.equal(expected);
      await waitFor(async () => (await factCount(wh, tenant.tenant_id)) === expected, 60_000, `${expected} facts`);

      const { rows } = await wh.query<{ lag: number; entity_type: string | null; attribute_name: string | null }>(
        `SELECT EXTRACT(EPOCH FROM loaded_at - source_ts)::float8 AS lag, entity_type, attribute_name
         FROM fact_readings WHERE tenant_id = $1`,
        [tenant.tenant_id],
      );
      expect(rows.every((r) => r.entity_type === "sensor" || r.entity_type === "gateway")).to.equal(true);
      expect(new Set(rows.map((r) => r.attribute_name))).to.deep.equal(new Set(["temperature", "status"]));
      const lags = rows.map((r) => r.lag);
      const p50 = quantile(lags, 0.5);
      const p95 = quantile(lags, 0.95);
      // The number the issue asks for: primary commit → warehouse commit.
      console.log(`      end-to-end lag over ${lags.length} readings: p50 ${p50.toFixed(2)} s, p95 ${p95.toFixed(2)} s, max ${Math.max(...lags).toFixed(2)} s`);
      expect(p95).to.be.lessThan(15);

      const { rows: state } = await wh.query("SELECT count(*)::int AS n FROM current_state WHERE tenant_id = $1", [tenant.tenant_id]);
      expect(state[0].n).to.equal(requests * 50 * 2);
    });
  });

  it("when a reading lands in a daily partition created after the connector started, then it reaches the warehouse (publish_via_partition_root)", async () => {
    const { tenantId, attrs } = await newTenantWithAttributes(pool, [["pressure", "int"]]);
    // A day no test run has used: its partition is created now, long after the connector began streaming.
    const day = new Date(Date.UTC(2040 + Math.floor(Math.random() * 50), Math.floor(Math.random() * 12), 1 + Math.floor(Math.random() * 28)));
    const dayText = day.toISOString().slice(0, 10);
    const { rows: made } = await pool.query<{ moved: string }>("SELECT atlas_create_history_partition($1::date) AS moved", [dayText]);
    expect(Number(made[0].moved)).to.be.at.least(0, "the partition existed already");
    const { rows: part } = await pool.query<{ relname: string }>(
      `SELECT partition_name AS relname FROM atlas_history_partitions() WHERE range_from = ($1::date)::timestamp AT TIME ZONE 'UTC'`,
      [dayText],
    );
    expect(part).to.have.length(1);

    const ts = new Date(day.getTime() + 12 * 3600_000).toISOString();
    await flush(pool, randomUUID(), [{ tenant_id: tenantId, entity_id: 1, attribute_id: attrs.get("pressure")!, ts, value_int: 1013 }]);
    const fact = await waitFor(async () => {
      const { rows } = await wh.query("SELECT value_num, day::text AS day FROM fact_readings WHERE tenant_id = $1", [tenantId]);
      return rows[0];
    }, 60_000, "the reading of the new partition");
    expect(fact).to.deep.equal({ value_num: 1013, day: dayText });

    // Clean up through the pipeline too (so reconcile stays clean), then drop the partition.
    await pool.query("DELETE FROM entity_values_ts WHERE tenant_id = $1", [tenantId]);
    await waitFor(async () => (await factCount(wh, tenantId)) === 0, 60_000, "the delete");
    await pool.query(`DROP TABLE ${part[0].relname}`);
  });

  it("when a reading is updated and then deleted on the primary, then the warehouse follows both", async () => {
    const { tenantId, attrs } = await newTenantWithAttributes(pool, [["temperature", "decimal"]]);
    const ts = new Date(Date.now() - 60_000).toISOString();
    const attributeId = attrs.get("temperature")!;
    await flush(pool, randomUUID(), [
      { tenant_id: tenantId, entity_id: 5, attribute_id: attributeId, ts, value_decimal: 20.5 },
      { tenant_id: tenantId, entity_id: 6, attribute_id: attributeId, ts, value_decimal: 21.5 },
    ]);
    await waitFor(async () => (await factCount(wh, tenantId)) === 2, 60_000, "2 facts");

    await pool.query("UPDATE entity_values_ts SET value_decimal = 99.5 WHERE tenant_id = $1 AND entity_id = 5", [tenantId]);
    await waitFor(async () => {
      const { rows } = await wh.query("SELECT value_num FROM fact_readings WHERE tenant_id = $1 AND entity_id = 5", [tenantId]);
      return rows[0]?.value_num === 99.5;
    }, 60_000, "the update");

    await pool.query("DELETE FROM entity_values_ts WHERE tenant_id = $1 AND entity_id = 5", [tenantId]);
    await waitFor(async () => (await factCount(wh, tenantId)) === 1, 60_000, "the delete");

    // Dimension and current-state changes: an entity's type changes, then the entity goes.
    await pool.query("UPDATE entities SET entity_type = 'valve' WHERE tenant_id = $1 AND entity_id = 6", [tenantId]);
    await waitFor(async () => {
      const { rows } = await wh.query("SELECT entity_type FROM dim_entities WHERE tenant_id = $1 AND entity_id = 6", [tenantId]);
      return rows[0]?.entity_type === "valve";
    }, 60_000, "the entity type update");
    const { rows: st } = await wh.query("SELECT value_num FROM current_state WHERE tenant_id = $1 AND entity_id = 6", [tenantId]);
    expect(st).to.deep.equal([{ value_num: 21.5 }]);

    await pool.query("DELETE FROM entity_values_ts WHERE tenant_id = $1 AND entity_id = 6", [tenantId]);
    await pool.query("DELETE FROM entity_latest WHERE tenant_id = $1 AND entity_id = 6", [tenantId]);
    await pool.query("DELETE FROM entity_jsonb WHERE tenant_id = $1 AND entity_id = 6", [tenantId]);
    await pool.query("DELETE FROM entities WHERE tenant_id = $1 AND entity_id = 6", [tenantId]);
    await waitFor(async () => {
      const { rows } = await wh.query(
        `SELECT (SELECT count(*) FROM dim_entities WHERE tenant_id = $1 AND entity_id = 6)::int
           + (SELECT count(*) FROM current_state WHERE tenant_id = $1 AND entity_id = 6)::int
           + (SELECT count(*) FROM fact_readings WHERE tenant_id = $1 AND entity_id = 6)::int AS n`,
        [tenantId],
      );
      return rows[0].n === 0;
    }, 60_000, "the entity delete");
    // Entity 5 lost only its history rows: its dimension row and latest state stay, as on the primary.
    const { rows: kept } = await wh.query(
      "SELECT (SELECT count(*) FROM dim_entities WHERE tenant_id = $1 AND entity_id = 5)::int AS dims, (SELECT count(*) FROM current_state WHERE tenant_id = $1 AND entity_id = 5)::int AS states",
      [tenantId],
    );
    expect(kept[0]).to.deep.equal({ dims: 1, states: 1 });
  });

  it("when nothing is written, then the warehouse lag stays small instead of growing (heartbeats carry the watermark)", async () => {
    // Debezium's action query commits a heartbeat every 10 s; the loader loads it.
    const first = await waitFor(async () => readWarehouseLag(wh), 30_000, "a watermark");
    await new Promise((r) => setTimeout(r, 12_000));
    const later = await readWarehouseLag(wh);
    expect(later).to.be.a("number");
    // Without heartbeats it would have grown by the 12 s waited.
    expect(later!).to.be.lessThan(first + 12, `lag went from ${first} to ${later}`);
    expect(later!).to.be.lessThan(15);
  });
});
