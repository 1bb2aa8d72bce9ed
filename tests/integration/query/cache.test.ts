/** Cache-aside on the real Redis: hits, invalidation by the writer, Redis down, strong reads. */
import { expect } from "chai";
import { useTestDatabase } from "../../helpers/db";
import { eventually, makeTenant, QueryApi, startQueryApi, Tenant, waitForReplica, write } from "./harness";

describe("query cache (real Redis)", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  let api: QueryApi;
  let tenant: Tenant;

  before(async () => {
    tenant = await makeTenant(db.pool, { temperature: ["decimal", true], status: ["string", true] });
    await waitForReplica(db);
    api = await startQueryApi(db);
    await eventually(() => api.replicaSet.snapshot()[0].lag_seconds !== null, 15_000, "first lag measurement");
  });
  after(async () => {
    await api?.close();
  });

  it("when an entity is read twice, then the second read is a cache hit that reports the cached copy's lag", async () => {
    await write(db.pool, tenant, [{ entityId: 10, ts: new Date(), values: { temperature: 10, status: "online" } }], api.redis);
    await waitForReplica(db);
    const first = await api.request("GET", "/v1/entities/10", { tenant });
    expect(first.status).to.equal(200);
    expect(first.headers.get("x-cache-status")).to.equal("miss");
    expect(first.headers.get("x-data-source")).to.match(/^(replica-1|primary)$/);
    await new Promise((r) => setTimeout(r, 300));
    const second = await api.request("GET", "/v1/entities/10", { tenant });
    expect(second.headers.get("x-cache-status")).to.equal("hit");
    expect(second.headers.get("x-data-source")).to.equal("cache");
    expect(second.body).to.deep.equal({ ...first.body, _metadata: second.body._metadata });
    // The cached copy's lag: the source's lag when loaded plus the copy's age (>= 0.3 s here).
    expect(Number(second.headers.get("x-data-lag-seconds"))).to.be.at.least(0.3);
    expect(second.body._metadata).to.include({ source: "cache", cache_status: "hit", consistency: "eventual" });
  });

  it("when a value is written after a cached read (writer invalidates), then the next read sees the new value", async () => {
    await write(db.pool, tenant, [{ entityId: 11, ts: new Date(Date.now() - 1000), values: { temperature: 1 } }], api.redis);
    await waitForReplica(db);
    const before = await api.request("GET", "/v1/entities/11", { tenant });
    expect(before.body.attributes.temperature.value).to.equal(1);
    expect((await api.request("GET", "/v1/entities/11", { tenant })).headers.get("x-cache-status")).to.equal("hit");

    await write(db.pool, tenant, [{ entityId: 11, ts: new Date(), values: { temperature: 2 } }], api.redis);
    await waitForReplica(db);
    const after = await api.request("GET", "/v1/entities/11", { tenant });
    expect(after.headers.get("x-cache-status")).to.equal("miss");
    expect(after.body.attributes.temperature.value).to.equal(2);
  });

  it("when the cached copy is older than the caller's lag budget, then it is not served", async () => {
    await write(db.pool, tenant, [{ entityId: 12, ts: new Date(), values: { temperature: 12 } }], api.redis);
    await waitForReplica(db);
    await api.request("GET", "/v1/entities/12", { tenant });
    await new Promise((r) => setTimeout(r, 600));
    const strict = await api.request("GET", "/v1/entities/12", { tenant, headers: { "X-Max-Lag-Seconds": "0.5" } });
    expect(strict.headers.get("x-cache-status")).to.equal("miss");
    expect(strict.headers.get("x-data-source")).to.not.equal("cache");
    expect(Number(strict.headers.get("x-data-lag-seconds"))).to.be.at.most(0.5);
  });

  it("when the read is strong, then the cache is bypassed (read-after-write without waiting for invalidation)", async () => {
    await write(db.pool, tenant, [{ entityId: 13, ts: new Date(Date.now() - 1000), values: { temperature: 1 } }], api.redis);
    await waitForReplica(db);
    await api.request("GET", "/v1/entities/13", { tenant });
    // A write whose invalidation has not happened yet (no redis passed).
    await write(db.pool, tenant, [{ entityId: 13, ts: new Date(), values: { temperature: 3 } }]);
    const strong = await api.request("GET", "/v1/entities/13", { tenant, headers: { "X-Consistency-Level": "strong" } });
    expect(strong.headers.get("x-cache-status")).to.equal("bypass");
    expect(strong.headers.get("x-data-source")).to.equal("primary");
    expect(strong.body.attributes.temperature.value).to.equal(3);
  });

  it("when a search repeats, then it is a hit until the tenant writes again (search generation)", async () => {
    await write(db.pool, tenant, [{ entityId: 14, ts: new Date(), values: { status: "cachetest" } }], api.redis);
    await waitForReplica(db);
    const body = { filters: [{ attribute: "status", op: "eq", value: "cachetest" }] };
    const first = await api.request("POST", "/v1/entities/search", { tenant, body });
    expect(first.status).to.equal(200);
    expect(first.headers.get("x-cache-status")).to.equal("miss");
    expect(first.body.entities.map((e: { entity_id: number }) => e.entity_id)).to.deep.equal([14]);
    const second = await api.request("POST", "/v1/entities/search", { tenant, body });
    expect(second.headers.get("x-cache-status")).to.equal("hit");
    expect(second.body.entities).to.deep.equal(first.body.entities);

    await write(db.pool, tenant, [{ entityId: 15, ts: new Date(), values: { status: "cachetest" } }], api.redis);
    await waitForReplica(db);
    const third = await api.request("POST", "/v1/entities/search", { tenant, body });
    expect(third.headers.get("x-cache-status")).to.equal("miss");
    expect(third.body.entities.map((e: { entity_id: number }) => e.entity_id)).to.deep.equal([15, 14]);
  });
});

describe("query cache with Redis unavailable", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  let api: QueryApi;
  let tenant: Tenant;

  before(async () => {
    tenant = await makeTenant(db.pool, { temperature: ["decimal", true] });
    await write(db.pool, tenant, [{ entityId: 1, ts: new Date(), values: { temperature: 5 } }]);
    // Redis at a dead port: the shared Redis stays up for everybody else.
    api = await startQueryApi(db, { redisUrl: "redis://127.0.0.1:1" });
  });
  after(async () => {
    await api?.close();
  });

  it("when Redis is down, then reads and searches still answer from PostgreSQL with X-Cache-Status: bypass", async () => {
    const started = Date.now();
    const res = await api.request("GET", "/v1/entities/1", { tenant });
    expect(res.status).to.equal(200);
    expect(res.headers.get("x-cache-status")).to.equal("bypass");
    expect(res.body.attributes.temperature.value).to.equal(5);
    const search = await api.request("POST", "/v1/entities/search", { tenant, body: { filters: [] } });
    expect(search.status).to.equal(200);
    expect(search.headers.get("x-cache-status")).to.equal("bypass");
    expect(Date.now() - started).to.be.lessThan(2_000);
  });
});
