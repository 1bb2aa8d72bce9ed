/**
 * The analytics endpoints of the query API, answered from the warehouse the
 * loader fills, and the reconcile command.
 */
import { expect } from "chai";
import { spawnSync } from "child_process";
import { randomUUID } from "crypto";
import { Pool } from "pg";
import type { Loader } from "../../../app/cdc/loader/loader";
import { createTenant } from "../../../app/shared/tenants";
import { flush } from "../../helpers/db";
import { ensurePipeline, factCount, newGroupId, stack, startTestLoader, waitFor, startAnalyticsApi } from "./harness";

describe("analytics from the warehouse", function () {
  this.timeout(180_000);
  let pool: Pool;
  let wh: Pool;
  let loader: Loader;
  let api: { url: string; close(): Promise<void> } | undefined;
  let url: string;
  const tenants: Array<{ id: string; key: string }> = [];
  const DAY = Date.UTC(2026, 10, 20); // a fixed past day: buckets are exact

  async function get(path: string, key: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${key}`, ...headers } });
    return { status: res.status, headers: res.headers, body: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  }

  before(async function () {
    this.timeout(240_000);
    await ensurePipeline();
    pool = new Pool({ connectionString: stack().databaseUrl, max: 4 });
    wh = new Pool({ connectionString: stack().warehouseUrl, max: 4 });
    loader = await startTestLoader({ groupId: newGroupId() });

    // Two tenants with the same attribute name and different numbers.
    for (const [i, values] of [[0, [1, 2, 3, 4, 100]], [1, [50]]] as const) {
      const t = await createTenant(pool, `cdc-analytics-${randomUUID().slice(0, 8)}-${i}`);
      const { rows } = await pool.query<{ attribute_id: number }>(
        "INSERT INTO attributes (tenant_id, name, data_type) VALUES ($1, 'temperature', 'decimal') RETURNING attribute_id",
        [t.tenant_id],
      );
      await flush(pool, randomUUID(), values.map((v, n) => ({
        tenant_id: t.tenant_id, entity_id: n + 1, entity_type: n < 3 ? "sensor" : "valve", attribute_id: rows[0].attribute_id,
        ts: new Date(DAY + 10 * 3600_000 + n * 60_000).toISOString(), value_decimal: v,
      })));
      // A second hour for tenant 0.
      if (i === 0) {
        await flush(pool, randomUUID(), [{ tenant_id: t.tenant_id, entity_id: 1, attribute_id: rows[0].attribute_id, ts: new Date(DAY + 13 * 3600_000).toISOString(), value_decimal: 10 }]);
      }
      tenants.push({ id: t.tenant_id, key: t.api_key });
      await waitFor(async () => (await factCount(wh, t.tenant_id)) === values.length + (i === 0 ? 1 : 0), 90_000, "facts");
    }

    api = await startAnalyticsApi(pool, wh);
    url = api.url;
  });

  after(async () => {
    await api?.close();
    await loader?.stop();
    await pool?.end();
    await wh?.end();
  });

  it("hourly buckets carry count, avg, min, max, p50 and p95 of the tenant's readings", async () => {
    const from = new Date(DAY).toISOString();
    const to = new Date(DAY + 86_400_000).toISOString();
    const r = await get(`/v1/analytics/attributes/temperature/hourly?from=${from}&to=${to}`, tenants[0].key);
    expect(r.status, JSON.stringify(r.body)).to.equal(200);
    expect(r.body.buckets).to.have.length(2);
    const [ten, thirteen] = r.body.buckets;
    expect(ten).to.deep.include({ start: "2026-11-20T10:00:00Z", count: 5, avg: 22, min: 1, max: 100 });
    // Nearest-rank percentiles of 1,2,3,4,100 from the rollup's sketch: within
    // 1 %, clamped to the bucket's min and max (so p95, the maximum, is exact).
    expect(ten.p50).to.be.closeTo(3, 0.03);
    expect(ten.p95).to.equal(100);
    expect(thirteen).to.deep.include({ start: "2026-11-20T13:00:00Z", count: 1, avg: 10 });
  });

  it("daily buckets sum the day", async () => {
    const r = await get(`/v1/analytics/attributes/temperature/daily?from=2026-11-19T00:00:00Z&to=2026-11-22T00:00:00Z`, tenants[0].key);
    expect(r.body.buckets).to.have.length(1);
    expect(r.body.buckets[0]).to.deep.include({ start: "2026-11-20T00:00:00Z", count: 6, min: 1, max: 100 });
  });

  it("when tenant B asks for the same attribute name, then it sees only its own readings", async () => {
    const r = await get(`/v1/analytics/attributes/temperature/daily?from=2026-11-19T00:00:00Z&to=2026-11-22T00:00:00Z`, tenants[1].key);
    expect(r.body.buckets).to.deep.equal([{ start: "2026-11-20T00:00:00Z", count: 1, avg: 50, min: 50, max: 50, p50: 50, p95: 50 }]);
  });

  it("when a tenant asks for an attribute only another tenant has, then 404", async () => {
    await pool.query("INSERT INTO attributes (tenant_id, name, data_type) VALUES ($1, 'only_b', 'int')", [tenants[1].id]);
    await waitFor(async () => (await wh.query("SELECT 1 FROM dim_attributes WHERE tenant_id = $1 AND name = 'only_b'", [tenants[1].id])).rowCount === 1, 60_000, "dim");
    const r = await get(`/v1/analytics/attributes/only_b/daily?from=2026-11-19T00:00:00Z&to=2026-11-22T00:00:00Z`, tenants[0].key);
    expect(r.status).to.equal(404);
  });

  it("entity counts by type are the tenant's own", async () => {
    const a = await get("/v1/analytics/entities/count-by-type", tenants[0].key);
    expect(a.body.counts).to.deep.equal([{ entity_type: "sensor", count: 3 }, { entity_type: "valve", count: 2 }]);
    expect(a.body.total).to.equal(5);
    const b = await get("/v1/analytics/entities/count-by-type", tenants[1].key);
    expect(b.body.counts).to.deep.equal([{ entity_type: "sensor", count: 1 }]);
  });

  it("answers carry the warehouse as source, its lag and the time it is complete up to (X-Data-As-Of), in headers and _metadata", async () => {
    const asked = Date.now();
    const r = await get("/v1/analytics/entities/count-by-type", tenants[0].key);
    expect(r.headers.get("x-data-source")).to.equal("warehouse");
    expect(r.headers.get("x-consistency-level")).to.equal("analytics");
    const lag = Number(r.headers.get("x-data-lag-seconds"));
    expect(lag).to.be.at.least(0).and.lessThan(30);
    const asOf = r.headers.get("x-data-as-of")!;
    expect(asOf).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    // As of = the moment the lag was read − the lag (read at most 1 s before: the router's cache).
    expect(Math.abs(asked - lag * 1000 - Date.parse(asOf))).to.be.below(2_000);
    expect(r.body._metadata).to.include({ source: "warehouse", consistency: "analytics", lag_seconds: lag, as_of: asOf });
  });

  it("when the caller's lag budget is smaller than the warehouse lag, then 503 with Retry-After; strong is refused", async () => {
    const tight = await get("/v1/analytics/entities/count-by-type", tenants[0].key, { "x-max-lag-seconds": "0", "x-consistency-level": "analytics" });
    // The lag is never exactly 0 (micro-batches), so a 0 budget cannot be met.
    expect(tight.status).to.equal(503);
    expect(tight.body.error.code).to.equal("lag_budget_exceeded");
    expect(tight.headers.get("retry-after")).to.match(/^\d+$/);
    const strong = await get("/v1/analytics/entities/count-by-type", tenants[0].key, { "x-consistency-level": "strong" });
    expect(strong.status).to.equal(400);
  });

  it("bad ranges are 400s naming the parameter", async () => {
    const missing = await get("/v1/analytics/attributes/temperature/hourly?from=2026-11-19T00:00:00Z", tenants[0].key);
    expect(missing.status).to.equal(400);
    expect(missing.body.error.field).to.equal("to");
    const wide = await get("/v1/analytics/attributes/temperature/hourly?from=2026-01-01T00:00:00Z&to=2026-11-01T00:00:00Z", tenants[0].key);
    expect(wide.status).to.equal(400);
    const gran = await get("/v1/analytics/attributes/temperature/weekly?from=2026-11-19T00:00:00Z&to=2026-11-20T00:00:00Z", tenants[0].key);
    expect(gran.status).to.equal(400);
  });

  describe("npm run reconcile", () => {
    const run = (args: string[]) =>
      spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "app/cdc/reconcile-cli.ts", ...args], {
        env: { ...process.env, DATABASE_URL: stack().databaseUrl, WAREHOUSE_URL: stack().warehouseUrl },
        encoding: "utf8",
        timeout: 120_000,
      });

    it("when the warehouse matches the primary, then it prints no differences and exits 0", () => {
      const r = run(["--tenant", tenants[0].id, "--since", "2026-11-01", "--wait-seconds", "30"]);
      expect(r.stdout).to.match(/no differences/);
      expect(r.status, r.stderr).to.equal(0);
    });

    it("when a stray fact is planted in the warehouse, then it prints the tenant-day and exits 1", async () => {
      const t = tenants[0].id;
      await wh.query(
        `INSERT INTO fact_readings (tenant_id, entity_id, attribute_id, ts, day, data_type, value_num, source_ts, source_lsn, loaded_at)
         VALUES ($1, 999, 1, '2026-11-21T00:00:00Z', '2026-11-21', 'decimal', 1, now(), 0, now())`,
        [t],
      );
      try {
        const r = run(["--tenant", t, "--since", "2026-11-01", "--wait-seconds", "30"]);
        expect(r.status, r.stderr).to.equal(1);
        expect(r.stdout).to.contain(t);
        expect(r.stdout).to.match(/2026-11-21\s+0\s+1\s+1/);
        expect(r.stdout).to.match(/1 difference/);
      } finally {
        await wh.query("DELETE FROM fact_readings WHERE tenant_id = $1 AND entity_id = 999", [t]);
      }
    });
  });
});
