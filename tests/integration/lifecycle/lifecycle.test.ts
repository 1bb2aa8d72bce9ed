/**
 * The data lifecycle on the real stack: partition maintenance run by the
 * started batch-writer process (on a clock moved forward by the test-only
 * ATLAS_MAINTENANCE_CLOCK_OFFSET_DAYS), deletions that reach every store
 * (the warehouse through Debezium and the loader), tenant deactivation and
 * erasure through the operator command.
 */
import { expect } from "chai";
import { execFile } from "child_process";
import { promisify } from "util";
import { Client, Pool } from "pg";
import type { Loader } from "../../../app/cdc/loader/loader";
import { ensureConnectorStreams } from "../../../app/cdc/register";
import { startJobRunner } from "../../../app/lifecycle/job-runner";
import { createRedis } from "../../../app/shared/redis";
import type { Redis } from "ioredis";
import { createTestDatabase, databaseUrl, type TestDatabase } from "../../helpers/db";
import { requireStackVar } from "../../helpers/stack-env";
import { ensurePipeline, newGroupId, stack, startTestLoader, waitFor } from "../cdc/harness";
import { newSuffix, post, registerAttributes, spawnEntry, startApi, testConfig, type Child, type RunningApi } from "../ingest/harness";
import { createTenant } from "../../../app/shared/tenants";
import { endChild } from "../faults/stack";
import { makeTenant, replicaUrl, startQueryApi, write, type QueryApi, type Tenant } from "../query/harness";

const run = promisify(execFile);
const DAY = 86_400_000;
const utcDay = (offsetDays: number) => new Date(Math.floor(Date.now() / DAY) * DAY + offsetDays * DAY);

interface Partition {
  partition_name: string;
  range_from: Date | null;
  is_default: boolean;
}

describe("lifecycle: partition maintenance run by the batch writer service", function () {
  this.timeout(180_000);
  let db: TestDatabase;
  let writer: Child | undefined;
  let api: QueryApi;
  let tenant: Tenant;

  before(async () => {
    db = await createTestDatabase();
    tenant = await makeTenant(db.pool, { temperature: ["decimal", true] });
    // A reading of today (real clock): on the moved clock it is 30 days old.
    await write(db.pool, tenant, [{ entityId: 1, ts: new Date(Date.now() - 60_000), values: { temperature: 21.5 } }]);
  });
  after(async () => {
    await endChild(writer);
    await api?.close();
    await db?.drop();
  });

  it("when the writer starts with its maintenance clock 30 days ahead and 10 days of retention, then partitions appear ahead, expired ones are dropped, and /metrics and GET /v1/retention say so", async () => {
    const before = (await db.pool.query<Partition>("SELECT * FROM atlas_history_partitions()")).rows;
    expect(before.some((p) => !p.is_default && p.range_from!.getTime() === utcDay(0).getTime())).to.equal(true);

    writer = spawnEntry("app/ingest/writer-main.ts", {
      DATABASE_URL: db.url,
      KAFKA_BROKERS: requireStackVar("KAFKA_BROKERS"),
      REDIS_URL: requireStackVar("REDIS_URL"),
      PORT: "0",
      ATLAS_TOPIC_SUFFIX: newSuffix(),
      RETENTION_DAYS: "10",
      PARTITION_MAINTENANCE_INTERVAL_SECONDS: "1",
      ATLAS_MAINTENANCE_CLOCK_OFFSET_DAYS: "30",
    });
    const listening = await writer.waitForLog((l) => l.msg === "batch writer health endpoint listening", 90_000);
    const metricsUrl = `http://127.0.0.1:${listening.port}/metrics`;

    // Made: the moved clock's yesterday to today + 7 days. Dropped: every
    // day before moved-today − 10, which includes the real today and its reading.
    await waitFor(async () => {
      const parts = (await db.pool.query<Partition>("SELECT * FROM atlas_history_partitions()")).rows;
      const days = new Set(parts.filter((p) => !p.is_default).map((p) => p.range_from!.getTime()));
      const made = [29, 30, 31, 32, 33, 34, 35, 36, 37].every((d) => days.has(utcDay(d).getTime()));
      return made && [...days].every((t) => t >= utcDay(20).getTime());
    }, 60_000, "partitions 30+7 days ahead and those older than 30-10 days dropped");
    const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM entity_values_ts WHERE tenant_id = $1", [tenant.id]);
    expect(rows[0].n, "the expired reading went with its partition").to.equal(0);

    const metrics = await waitFor(async () => {
      const text = await (await fetch(metricsUrl)).text();
      return /^atlas_partitions_ahead_days 7$/m.test(text) ? text : undefined;
    }, 30_000, "atlas_partitions_ahead_days 7 in /metrics");
    const success = Number(/^atlas_partition_maintenance_last_success_timestamp_seconds (\S+)$/m.exec(metrics)?.[1]);
    expect(Date.now() / 1000 - success).to.be.within(0, 30);
    expect(metrics).to.match(/^atlas_history_default_partition_rows 0$/m);

    api = await startQueryApi(db, { env: { RETENTION_DAYS: "10" } });
    const res = await api.request("GET", "/v1/retention", { tenant });
    expect(res.status).to.equal(200);
    expect(res.body).to.include({ retention_days: 10, partitions_ahead_days: 7, drop_retention_days: 10, oldest_data: null, next_drop: null });
    expect(Date.now() - Date.parse(res.body.last_maintenance)).to.be.within(0, 30_000);
  });
});

describe("lifecycle: a tenant's own retention", function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let ingest: RunningApi;
  let api: QueryApi;
  before(async () => {
    db = await createTestDatabase();
    ingest = await startApi({ config: testConfig(db.url), pool: db.pool, mode: "direct" });
    api = await startQueryApi(db);
  });
  after(async () => {
    await ingest?.close();
    await api?.close();
    await db?.drop();
  });

  it("when a tenant keeps 5 days, then a reading 6 days old is refused naming it, one 4 days old is stored, and GET /v1/retention says so", async () => {
    const created = await createTenant(db.pool, "short-memory", { retentionDays: 5 });
    await registerAttributes(ingest.url, created.api_key, [["temperature", "decimal"]]);
    const old = { entity_id: 1, entity_type: "sensor", ts: new Date(Date.now() - 6 * DAY).toISOString(), values: { temperature: 1 } };
    const recent = { ...old, ts: new Date(Date.now() - 4 * DAY).toISOString() };
    const refused = await post(`${ingest.url}/v1/telemetry`, created.api_key, { readings: [recent, old] });
    expect(refused.status).to.equal(400);
    expect(refused.body.error.details).to.deep.equal([{ index: 1, field: "ts", reason: "is older than the retention period of 5 days" }]);
    expect((await post(`${ingest.url}/v1/telemetry`, created.api_key, { readings: [recent] })).status).to.equal(202);

    const res = await api.request("GET", "/v1/retention", { tenant: { id: created.tenant_id, key: created.api_key, attrs: new Map() } });
    expect(res.status).to.equal(200);
    expect(res.body.retention_days).to.equal(5);
    expect(res.body.oldest_data).to.equal(recent.ts);
    // Its day's partition goes once that whole day is past the longest retention (the default 400 days here).
    const dayEnd = Math.floor(Date.parse(recent.ts) / DAY) * DAY + DAY;
    expect(res.body.next_drop).to.equal(new Date(dayEnd + 400 * DAY).toISOString());
  });
});

describe("lifecycle: deletions reach every store (real CDC to the warehouse)", function () {
  this.timeout(480_000);
  const atlas = () => ({ name: "atlas", url: stack().databaseUrl, pool: owner, drop: async () => undefined }) as TestDatabase;
  let owner: Pool;
  let wh: Pool;
  let redis: Redis;
  let loader: Loader;
  let stopRunner: () => Promise<void>;
  let api: QueryApi;

  const count = async (pool: Pool, sql: string, params: unknown[]) => Number((await pool.query(sql, params)).rows[0].n);
  const job = async (tenant: Tenant, res: { status: number; body: { job_id: string } }) => {
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return waitFor(async () => {
      const r = await api.request("GET", `/v1/jobs/${res.body.job_id}`, { tenant });
      expect(r.status).to.equal(200);
      expect(r.body.state).to.not.equal("failed");
      return r.body.state === "succeeded" ? r.body : undefined;
    }, 30_000, `job ${res.body.job_id}`);
  };

  before(async function () {
    this.timeout(180_000);
    await ensurePipeline();
    // ensurePipeline checks once per process; the fault suites ran since.
    await ensureConnectorStreams({ databaseUrl: stack().databaseUrl, connectUrl: stack().connectUrl });
    owner = new Pool({ connectionString: stack().databaseUrl, max: 6 });
    wh = new Pool({ connectionString: stack().warehouseUrl, max: 2 });
    redis = createRedis(requireStackVar("REDIS_URL"), "test-lifecycle");
    loader = await startTestLoader({ groupId: newGroupId() });
    stopRunner = startJobRunner({ pool: owner, redis, cacheTtlSeconds: 60, pollMs: 200 });
    api = await startQueryApi(atlas());
  });
  after(async () => {
    await stopRunner?.();
    await api?.close();
    await loader?.stop();
    redis?.disconnect();
    await wh?.end();
    await owner?.end();
  });

  it("when an entity is deleted, then no endpoint returns anything of it, and the warehouse holds none of its rows once CDC catches up (its neighbour's count unchanged)", async () => {
    const tenant = await makeTenant(owner, { temperature: ["decimal", true], status: ["string", false] });
    const base = Date.now() - 3_600_000;
    const readings = [];
    for (const entityId of [1, 2]) {
      for (let i = 0; i < 20; i++) readings.push({ entityId, ts: new Date(base + i * 60_000), values: { temperature: 20 + i, status: `s${i}` } });
    }
    await write(owner, tenant, readings, redis);
    const facts = (entityId: number) => count(wh, "SELECT count(*) AS n FROM fact_readings WHERE tenant_id = $1 AND entity_id = $2", [tenant.id, entityId]);
    // After the fault suites Debezium may still be streaming their backlog: room to catch up.
    await waitFor(async () => (await facts(1)) === 40 && (await facts(2)) === 40, 300_000, "80 facts in the warehouse");

    // Cached before the delete: the delete must reach the cache too.
    expect((await api.request("GET", "/v1/entities/1", { tenant })).status).to.equal(200);
    const done = await job(tenant, await api.request("DELETE", "/v1/entities/1", { tenant }));
    expect(done.kind).to.equal("delete_entity");
    expect(done.result.removed).to.include({ history: 40, latest: 2, projection: 1, entities: 1 });

    for (const consistency of ["strong", "eventual"]) {
      const headers = { "X-Consistency-Level": consistency, "X-Max-Lag-Seconds": "60" };
      expect((await api.request("GET", "/v1/entities/1", { tenant, headers })).status, consistency).to.equal(404);
    }
    const from = new Date(base - 60_000).toISOString();
    const to = new Date(base + 3_600_000).toISOString();
    const series = await api.request("GET", `/v1/entities/1/timeseries?attributes=temperature&from=${from}&to=${to}`, { tenant, headers: { "X-Consistency-Level": "strong" } });
    expect(series.status, JSON.stringify(series.body)).to.equal(404);
    const search = await api.request("POST", "/v1/entities/search", { tenant, headers: { "X-Consistency-Level": "strong" }, body: { filters: [{ attribute: "temperature", op: "gte", value: 0 }] } });
    expect(search.status, JSON.stringify(search.body)).to.equal(200);
    expect(search.body.entities.map((e: { entity_id: unknown }) => String(e.entity_id))).to.deep.equal(["2"]);
    expect((await api.request("GET", "/v1/entities/2", { tenant })).status).to.equal(200);

    for (const table of ["entity_values_ts", "entity_latest", "entity_jsonb", "entities"]) {
      expect(await count(owner, `SELECT count(*) AS n FROM ${table} WHERE tenant_id = $1 AND entity_id = 1`, [tenant.id]), table).to.equal(0);
    }
    await waitFor(async () => (await facts(1)) === 0, 90_000, "entity 1's facts gone from the warehouse");
    expect(await facts(2), "entity 2 untouched").to.equal(40);
    await waitFor(
      async () => (await count(wh, "SELECT count(*) AS n FROM current_state WHERE tenant_id = $1 AND entity_id = 1", [tenant.id])) === 0,
      30_000,
      "entity 1 gone from current_state",
    );

    // A reading after the delete makes a new entity: only its own value.
    await write(owner, tenant, [{ entityId: 1, ts: new Date(), values: { temperature: 99 }, entityType: "reborn" }], redis);
    const reborn = await api.request("GET", "/v1/entities/1", { tenant, headers: { "X-Consistency-Level": "strong" } });
    expect(reborn.status).to.equal(200);
    expect(JSON.stringify(reborn.body)).to.contain("99").and.contain("reborn").and.not.contain("s19");
  });

  it("when a range that held the latest value is deleted, then the next-newest value becomes latest (and the search document follows)", async () => {
    const tenant = await makeTenant(owner, { temperature: ["decimal", true] });
    const base = Date.now() - 2 * DAY;
    const at = (min: number) => new Date(base + min * 60_000);
    await write(owner, tenant, [10, 20, 30, 40].map((m) => ({ entityId: 7, ts: at(m), values: { temperature: m } })), redis);
    const latest = async () => (await api.request("GET", "/v1/entities/7", { tenant, headers: { "X-Consistency-Level": "strong" } })).body;
    expect(JSON.stringify(await latest())).to.contain("40");

    const done = await job(
      tenant,
      await api.request("DELETE", `/v1/entities/7/attributes/temperature?from=${at(25).toISOString()}&to=${at(45).toISOString()}`, { tenant }),
    );
    expect(done.result.removed.history).to.equal(2);
    expect(done.result.new_latest_ts).to.equal(at(20).toISOString());
    const body = JSON.stringify(await latest());
    expect(body).to.contain(at(20).toISOString()).and.not.contain(at(40).toISOString());
    const hot = await owner.query("SELECT hot FROM entity_jsonb WHERE tenant_id = $1 AND entity_id = 7", [tenant.id]);
    expect(hot.rows[0].hot).to.deep.equal({ temperature: 20 });
    const search = await api.request("POST", "/v1/entities/search", { tenant, headers: { "X-Consistency-Level": "strong" }, body: { filters: [{ attribute: "temperature", op: "gt", value: 30 }] } });
    expect(search.status).to.equal(200);
    expect(search.body.entities).to.deep.equal([]);

    // The whole rest: the attribute disappears from the entity.
    await job(tenant, await api.request("DELETE", `/v1/entities/7/attributes/temperature?from=${at(0).toISOString()}&to=${at(25).toISOString()}`, { tenant }));
    expect(await count(owner, "SELECT count(*) AS n FROM entity_latest WHERE tenant_id = $1 AND entity_id = 7", [tenant.id])).to.equal(0);
    const doc = await owner.query("SELECT hot FROM entity_jsonb WHERE tenant_id = $1 AND entity_id = 7", [tenant.id]);
    expect(doc.rows[0].hot).to.deep.equal({});
  });

  it("bad input: an unknown entity, a range with from >= to, another tenant's job id (answered exactly like one that does not exist)", async () => {
    const a = await makeTenant(owner, { temperature: ["decimal", true] });
    const b = await makeTenant(owner, { temperature: ["decimal", true] });
    await write(owner, a, [{ entityId: 3, ts: new Date(Date.now() - 60_000), values: { temperature: 1 } }]);

    const unknown = await api.request("DELETE", "/v1/entities/999", { tenant: a });
    expect(unknown.status).to.equal(404);
    expect(unknown.body.error).to.include({ code: "not_found" });
    // B cannot see A's entity 3 either: the same answer.
    const foreign = await api.request("DELETE", "/v1/entities/3", { tenant: b });
    expect(foreign.status).to.equal(404);

    const now = new Date().toISOString();
    const reversed = await api.request("DELETE", `/v1/entities/3/attributes/temperature?from=${now}&to=${now}`, { tenant: a });
    expect(reversed.status).to.equal(400);
    expect(reversed.body.error).to.include({ code: "invalid_parameter", field: "to" });
    const noAttr = await api.request("DELETE", `/v1/entities/3/attributes/nope?from=2026-01-01T00:00:00Z&to=${now}`, { tenant: a });
    expect(noAttr.status).to.equal(404);
    expect(noAttr.body.error).to.include({ code: "attribute_not_found", field: "name" });

    const created = await api.request("DELETE", "/v1/entities/3", { tenant: a });
    expect(created.status).to.equal(202);
    const asOther = await api.request("GET", `/v1/jobs/${created.body.job_id}`, { tenant: b });
    const missing = "00000000-0000-4000-8000-000000000000";
    const never = await api.request("GET", `/v1/jobs/${missing}`, { tenant: b });
    expect(asOther.status).to.equal(404);
    expect(never.status).to.equal(404);
    const strip = (body: { error: { message: string } }, id: string) => JSON.stringify(body).split(id).join("<id>");
    expect(strip(asOther.body, created.body.job_id)).to.equal(strip(never.body, missing));
  });
});

describe("lifecycle: tenant deactivation and erasure (npm run tenant)", function () {
  this.timeout(480_000);
  let owner: Pool;
  let wh: Pool;
  let redis: Redis;
  let loader: Loader;
  let api: QueryApi;
  const atlas = () => ({ name: "atlas", url: stack().databaseUrl, pool: owner, drop: async () => undefined }) as TestDatabase;
  const tenantCli = (...args: string[]) =>
    run(process.execPath, ["-r", "ts-node/register/transpile-only", "app/shared/tenant-cli.ts", ...args], {
      env: { ...process.env, DATABASE_URL: stack().databaseUrl, REDIS_URL: requireStackVar("REDIS_URL"), WAREHOUSE_URL: stack().warehouseUrl },
    });
  const nameOf = async (tenantId: string) => (await owner.query("SELECT name FROM tenants WHERE tenant_id = $1", [tenantId])).rows[0].name as string;

  before(async function () {
    this.timeout(180_000);
    await ensurePipeline();
    // ensurePipeline checks once per process; the fault suites ran since.
    await ensureConnectorStreams({ databaseUrl: stack().databaseUrl, connectUrl: stack().connectUrl });
    owner = new Pool({ connectionString: stack().databaseUrl, max: 4 });
    wh = new Pool({ connectionString: stack().warehouseUrl, max: 2 });
    redis = createRedis(requireStackVar("REDIS_URL"), "test-erasure");
    loader = await startTestLoader({ groupId: newGroupId() });
    api = await startQueryApi(atlas());
  });
  after(async () => {
    await api?.close();
    await loader?.stop();
    redis?.disconnect();
    await wh?.end();
    await owner?.end();
  });

  it("when a tenant is deactivated, then its key answers 401 within a second, on an API that had just authenticated it", async () => {
    const tenant = await makeTenant(owner, { temperature: ["decimal", true] });
    await write(owner, tenant, [{ entityId: 1, ts: new Date(Date.now() - 60_000), values: { temperature: 1 } }]);
    expect((await api.request("GET", "/v1/entities/1", { tenant })).status).to.equal(200);
    await tenantCli("deactivate", await nameOf(tenant.id));
    const deactivatedAt = Date.now();
    await waitFor(async () => (await api.request("GET", "/v1/entities/1", { tenant })).status === 401, 5_000, "401");
    const elapsed = Date.now() - deactivatedAt;
    expect(elapsed, `401 after ${elapsed} ms`).to.be.below(1_000);
    // The data stays until an erase.
    expect(Number((await owner.query("SELECT count(*) AS n FROM entity_values_ts WHERE tenant_id = $1", [tenant.id])).rows[0].n)).to.equal(1);
  });

  it("when a tenant is erased, then it has zero rows in every store: primary, replica, cache and warehouse, and the command counts what it removed", async () => {
    const tenant = await makeTenant(owner, { temperature: ["decimal", true], status: ["string", false] });
    const readings = Array.from({ length: 30 }, (_, i) => ({ entityId: 1 + (i % 3), ts: new Date(Date.now() - 3_600_000 + i * 1000), values: { temperature: i, status: "ok" } }));
    await write(owner, tenant, readings, redis);
    await waitFor(async () => Number((await wh.query("SELECT count(*) AS n FROM fact_readings WHERE tenant_id = $1", [tenant.id])).rows[0].n) === 60, 300_000, "60 facts");
    for (const id of [1, 2, 3]) expect((await api.request("GET", `/v1/entities/${id}`, { tenant })).status).to.equal(200); // cached

    const { stdout } = await tenantCli("erase", await nameOf(tenant.id));
    const out = JSON.parse(stdout.trim().split("\n").pop()!);
    expect(out.erased.primary).to.include({ entity_values_ts: 60, entity_latest: 6, entity_jsonb: 3, entities: 3, attributes: 2, api_keys: 1, tenants: 1 });
    expect(out.erased.cache_keys).to.be.greaterThan(0);

    const tables = ["tenants", "api_keys", "attributes", "entities", "entity_values_ts", "entity_latest", "entity_jsonb", "jobs"];
    const replica = new Client({ connectionString: databaseUrl(replicaUrl("atlas"), "atlas") });
    await replica.connect();
    try {
      for (const table of tables) {
        expect(Number((await owner.query(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = $1`, [tenant.id])).rows[0].n), `primary ${table}`).to.equal(0);
      }
      await waitFor(async () => {
        for (const table of tables) {
          if (Number((await replica.query(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = $1`, [tenant.id])).rows[0].n) !== 0) return false;
        }
        return true;
      }, 30_000, "zero rows on the replica");
    } finally {
      await replica.end();
    }
    const keys: string[] = [];
    for await (const batch of redis.scanStream({ match: `atlas:*${tenant.id}*`, count: 1000 }) as AsyncIterable<string[]>) keys.push(...batch);
    expect(keys, "cache keys").to.deep.equal([]);
    await waitFor(async () => {
      for (const table of ["fact_readings", "current_state", "dim_entities", "dim_attributes", "dim_tenants"]) {
        if (Number((await wh.query(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = $1`, [tenant.id])).rows[0].n) !== 0) return false;
      }
      return true;
    }, 90_000, "zero rows in the warehouse after CDC caught up");
    expect((await api.request("GET", "/v1/entities/1", { tenant })).status).to.equal(401);
  });
});
