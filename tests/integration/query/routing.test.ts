/**
 * Consistency-aware routing against the real primary and its real streaming
 * replica: read-after-write, replica reads while current, paused replay,
 * budgets, a failing replica behind its circuit breaker.
 */
import { expect } from "chai";
import { Client } from "pg";
import { useTestDatabase } from "../../helpers/db";
import { requireStackVar } from "../../helpers/stack-env";
import { BreakableProxy, eventually, makeTenant, QueryApi, replicaUrl, startQueryApi, Tenant, waitForReplica, write } from "./harness";

const FRESHNESS = ["x-data-source", "x-data-lag-seconds", "x-consistency-level", "x-cache-status", "x-query-duration-ms"];

/** A superuser session on the replica (pause/resume replay). */
async function onReplica(sql: string): Promise<void> {
  const c = new Client({ connectionString: requireStackVar("DATABASE_REPLICA_URLS").split(",")[0].trim() });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

describe("query routing by consistency level (real primary + replica)", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  let api: QueryApi;
  let tenant: Tenant;

  before(async () => {
    tenant = await makeTenant(db.pool, { temperature: ["decimal", true], status: ["string", true], note: ["string", false] });
    await waitForReplica(db);
    // No cache here: these tests are about the databases.
    api = await startQueryApi(db, { redisUrl: null });
    await eventually(() => api.replicaSet.snapshot()[0].lag_seconds !== null, 15_000, "first lag measurement");
  });
  after(async () => {
    await onReplica("SELECT pg_wal_replay_resume()").catch(() => undefined);
    await api?.close();
  });

  it("when a value was just written, then a strong read returns it at once from the primary", async () => {
    await write(db.pool, tenant, [{ entityId: 1, ts: new Date(), values: { temperature: 21.5, status: "online", note: "cold one" } }]);
    const res = await api.request("GET", "/v1/entities/1", { tenant, headers: { "X-Consistency-Level": "strong" } });
    expect(res.status).to.equal(200);
    expect(res.body.attributes.temperature.value).to.equal(21.5);
    expect(res.body.attributes.note.value).to.equal("cold one");
    expect(res.headers.get("x-data-source")).to.equal("primary");
    expect(res.headers.get("x-data-lag-seconds")).to.equal("0");
    expect(res.headers.get("x-consistency-level")).to.equal("strong");
    expect(res.headers.get("x-cache-status")).to.equal("bypass");
    expect(res.body._metadata).to.include({ source: "primary", lag_seconds: 0, consistency: "strong", cache_status: "bypass" });
  });

  it("when the replica is current, then eventual reads come from the replica and report its small lag", async () => {
    await write(db.pool, tenant, [{ entityId: 2, ts: new Date(), values: { temperature: 30 } }]);
    await waitForReplica(db);
    await eventually(() => (api.replicaSet.snapshot()[0].lag_seconds ?? 99) < 1, 10_000, "replica lag < 1 s");
    const res = await api.request("GET", "/v1/entities/2", { tenant });
    expect(res.status).to.equal(200);
    expect(res.body.attributes.temperature.value).to.equal(30);
    expect(res.headers.get("x-data-source")).to.equal("replica-1");
    expect(res.headers.get("x-consistency-level")).to.equal("eventual");
    expect(Number(res.headers.get("x-data-lag-seconds"))).to.be.lessThan(1);
    expect(res.body._metadata.source).to.equal("replica-1");
    for (const h of FRESHNESS) expect(res.headers.get(h), h).to.not.equal(null);
  });

  it("when replay is paused and the lag exceeds the budget, then eventual reads come from the primary and say so; X-Max-Lag-Seconds: 600 still takes the lagging replica and reports its lag", async () => {
    await write(db.pool, tenant, [{ entityId: 3, ts: new Date(Date.now() - 60_000), values: { temperature: 1 } }]);
    await waitForReplica(db);
    await onReplica("SELECT pg_wal_replay_pause()");
    try {
      await write(db.pool, tenant, [{ entityId: 3, ts: new Date(), values: { temperature: 2 } }]);
      // The heartbeat keeps the primary moving: the measured lag grows past 2 s.
      await eventually(() => (api.replicaSet.snapshot()[0].lag_seconds ?? 0) > 2, 20_000, "measured lag > 2 s");

      const budget = await api.request("GET", "/v1/entities/3", { tenant, headers: { "X-Max-Lag-Seconds": "1" } });
      expect(budget.status).to.equal(200);
      expect(budget.headers.get("x-data-source")).to.equal("primary");
      expect(budget.headers.get("x-data-lag-seconds")).to.equal("0");
      expect(budget.body.attributes.temperature.value).to.equal(2);

      const defaults = await api.request("GET", "/v1/entities/3", { tenant });
      await eventually(() => (api.replicaSet.snapshot()[0].lag_seconds ?? 0) > 3.5, 20_000, "lag past the 3 s default");
      const overDefault = await api.request("GET", "/v1/entities/3", { tenant });
      expect(overDefault.headers.get("x-data-source")).to.equal("primary");
      expect(defaults.status).to.equal(200);

      const lenient = await api.request("GET", "/v1/entities/3", { tenant, headers: { "X-Max-Lag-Seconds": "600" } });
      expect(lenient.status).to.equal(200);
      expect(lenient.headers.get("x-data-source")).to.equal("replica-1");
      const lag = Number(lenient.headers.get("x-data-lag-seconds"));
      expect(lag).to.be.greaterThan(3);
      expect(lenient.body._metadata.lag_seconds).to.equal(lag);
      // The replica really is behind: it still has the old value.
      expect(lenient.body.attributes.temperature.value).to.equal(1);

      const strong = await api.request("GET", "/v1/entities/3", { tenant, headers: { "X-Consistency-Level": "strong", "X-Max-Lag-Seconds": "600" } });
      expect(strong.headers.get("x-data-source")).to.equal("primary");
      expect(strong.body.attributes.temperature.value).to.equal(2);
    } finally {
      await onReplica("SELECT pg_wal_replay_resume()");
    }
    await eventually(() => (api.replicaSet.snapshot()[0].lag_seconds ?? 99) < 1, 20_000, "replica caught up after resume");
    const after = await api.request("GET", "/v1/entities/3", { tenant });
    expect(after.headers.get("x-data-source")).to.equal("replica-1");
    expect(after.body.attributes.temperature.value).to.equal(2);
  });

  it("when the consistency headers are invalid, then 400 names the header", async () => {
    const level = await api.request("GET", "/v1/entities/1", { tenant, headers: { "X-Consistency-Level": "sometimes" } });
    expect(level.status).to.equal(400);
    expect(level.body.error.field).to.equal("X-Consistency-Level");
    const lag = await api.request("GET", "/v1/entities/1", { tenant, headers: { "X-Max-Lag-Seconds": "soon" } });
    expect(lag.status).to.equal(400);
    expect(lag.body.error.field).to.equal("X-Max-Lag-Seconds");
    const analytics = await api.request("GET", "/v1/entities/1", { tenant, headers: { "X-Consistency-Level": "analytics" } });
    expect(analytics.status).to.equal(400);
    expect(analytics.body.error.field).to.equal("X-Consistency-Level");
  });
});

describe("query routing around a failing replica (circuit breaker)", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  let tenant: Tenant;

  before(async () => {
    tenant = await makeTenant(db.pool, { temperature: ["decimal", true] });
    await write(db.pool, tenant, [{ entityId: 7, ts: new Date(), values: { temperature: 7.5 } }]);
    await waitForReplica(db);
  });

  it("when the replica URL points at a dead port, then the breaker opens and answers still come from the primary", async () => {
    const api = await startQueryApi(db, {
      redisUrl: null,
      replicaUrls: ["postgres://postgres@127.0.0.1:1/atlas"],
      replicaSet: { breaker: { failureThreshold: 3, cooldownMs: 60_000 } },
    });
    try {
      await eventually(() => api.replicaSet.snapshot()[0].breaker === "open", 10_000, "breaker open");
      const res = await api.request("GET", "/v1/entities/7", { tenant });
      expect(res.status).to.equal(200);
      expect(res.headers.get("x-data-source")).to.equal("primary");
      expect(res.body.attributes.temperature.value).to.equal(7.5);
      const metrics = await fetch(`${api.url}/metrics`).then((r) => r.text());
      expect(metrics).to.match(/atlas_replica_breaker_state\{replica="replica-1"\} 2/);
    } finally {
      await api.close();
    }
  });

  it("when a replica fails mid-request, then that request is answered by the primary; repeated failures open the breaker; after the cool-down one probe closes it again", async () => {
    const replicaPort = Number(new URL(replicaUrl(db.name)).port);
    const proxy = new BreakableProxy(replicaPort);
    await proxy.start();
    const viaProxy = new URL(replicaUrl(db.name));
    viaProxy.port = String(proxy.port);
    const api = await startQueryApi(db, {
      redisUrl: null,
      replicaUrls: [viaProxy.toString()],
      replicaSet: { intervalMs: 60_000, breaker: { failureThreshold: 2, cooldownMs: 1_000 }, staleAfterMs: 120_000 },
    });
    try {
      await eventually(() => api.replicaSet.snapshot()[0].lag_seconds !== null, 10_000, "first lag measurement");
      const ok = await api.request("GET", "/v1/entities/7", { tenant });
      expect(ok.headers.get("x-data-source")).to.equal("replica-1");

      // The replica goes away between measurements: the routed request fails on it.
      await proxy.break();
      const fallback = await api.request("GET", "/v1/entities/7", { tenant });
      expect(fallback.status).to.equal(200);
      expect(fallback.headers.get("x-data-source")).to.equal("primary");
      expect(api.replicaSet.snapshot()[0].breaker).to.equal("closed");
      const second = await api.request("GET", "/v1/entities/7", { tenant });
      expect(second.status).to.equal(200);
      expect(second.headers.get("x-data-source")).to.equal("primary");
      expect(api.replicaSet.snapshot()[0].breaker).to.equal("open");

      // Back again: after the cool-down the background probe closes the breaker.
      await proxy.start();
      await new Promise((r) => setTimeout(r, 1_100));
      expect(api.replicaSet.snapshot()[0].breaker).to.equal("half_open");
      await api.replicaSet.tick();
      expect(api.replicaSet.snapshot()[0].breaker).to.equal("closed");
      const back = await api.request("GET", "/v1/entities/7", { tenant });
      expect(back.headers.get("x-data-source")).to.equal("replica-1");
    } finally {
      await api.close();
      await proxy.stop();
    }
  });
});
