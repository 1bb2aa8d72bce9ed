import { expect } from "chai";
import Redis from "ioredis";
import { randomUUID } from "crypto";
import { entityKey, invalidateEntities, readThrough, versionKey } from "../../../app/shared/cache/entity-cache";

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through 'npm test' (it exports .atlas/stack.env)`);
  return value;
}

describe("version-guarded entity cache (real Redis)", () => {
  let redis: Redis;
  const tenant = randomUUID();

  before(async () => {
    redis = new Redis(requireEnv("REDIS_URL"), { maxRetriesPerRequest: 1 });
    await redis.ping();
  });
  after(async () => {
    await redis.quit();
  });

  it("when a value is read twice, then the first is a miss and the second a hit", async () => {
    let loads = 0;
    const load = async () => ({ n: ++loads });
    const first = await readThrough(redis, tenant, 1, 30, load);
    const second = await readThrough(redis, tenant, 1, 30, load);
    expect(first).to.deep.equal({ value: { n: 1 }, status: "miss" });
    expect(second).to.deep.equal({ value: { n: 1 }, status: "hit" });
  });

  it("when the writer invalidates while a read is in flight, then the stale answer is not cached", async () => {
    const entity = 2;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // The read loads the old value, the writer commits and invalidates, then the read tries to store.
    const inFlight = readThrough(redis, tenant, entity, 30, async () => {
      await gate;
      return { temperature: "old" };
    });
    await new Promise((r) => setTimeout(r, 20));
    await invalidateEntities(redis, [{ tenantId: tenant, entityId: entity }], 30);
    release();
    const stale = await inFlight;
    expect(stale.value).to.deep.equal({ temperature: "old" });
    expect(await redis.get(entityKey(tenant, entity))).to.equal(null);
    const next = await readThrough(redis, tenant, entity, 30, async () => ({ temperature: "new" }));
    expect(next).to.deep.equal({ value: { temperature: "new" }, status: "miss" });
  });

  it("when an entity is invalidated, then its cached value is gone and its version outlives values", async () => {
    await readThrough(redis, tenant, 3, 30, async () => ({ a: 1 }));
    await invalidateEntities(redis, [{ tenantId: tenant, entityId: 3 }], 30);
    expect(await redis.get(entityKey(tenant, 3))).to.equal(null);
    expect(await redis.ttl(versionKey(tenant, 3))).to.be.greaterThan(30);
  });

  it("when Redis is unreachable, then reads bypass it and still answer", async () => {
    const dead = new Redis("redis://127.0.0.1:1", { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    dead.on("error", () => undefined);
    const result = await readThrough(dead, tenant, 4, 30, async () => ({ ok: true }));
    expect(result).to.deep.equal({ value: { ok: true }, status: "bypass" });
    dead.disconnect();
  });
});
