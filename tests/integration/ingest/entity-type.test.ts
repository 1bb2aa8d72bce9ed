/**
 * entity_type is optional (issue 17): the first reading that names one sets
 * it, until then it is null, and once set a different one is refused with
 * 400 naming the reading's entity_type. Over Kafka with a batch writer, as
 * deployed.
 */
import { expect } from "chai";
import type { Pool } from "pg";
import { useTestDatabase } from "../../helpers/db";
import { createRedis, type Redis } from "../../../app/shared/redis";
import { requireStackVar } from "../../helpers/stack-env";
import type { BatchWriter } from "../../../app/ingest/writer";
import { historyCount, newSuffix, newTenant, post, registerAttributes, startApi, startWriter, testConfig, waitFor, type RunningApi } from "./harness";

const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

async function typeOf(pool: Pool, tenantId: string, entityId: number): Promise<string | null | undefined> {
  const { rows } = await pool.query<{ entity_type: string | null }>("SELECT entity_type FROM entities WHERE tenant_id = $1 AND entity_id = $2", [tenantId, entityId]);
  return rows.length === 0 ? undefined : rows[0].entity_type;
}

describe("ingest: entity_type is optional, set once by the first reading that names it", function () {
  this.timeout(120_000);
  const db = useTestDatabase();
  const suffix = newSuffix();
  let api: RunningApi;
  let writer: BatchWriter;
  let redis: Redis;
  let key: string;
  let tenantId: string;
  let stored = 0;

  /** Posts readings, expects 202, and waits until the writer stored them (history rows). */
  async function accepted(body: unknown, values: number, contentType?: string): Promise<void> {
    const r = await post(`${api.url}/v1/telemetry`, key, body, contentType);
    expect(r.status, JSON.stringify(r.body)).to.equal(202);
    stored += values;
    await waitFor(async () => (await historyCount(db.pool, tenantId)) === stored, 30_000, `${stored} history rows`);
  }

  before(async () => {
    api = await startApi({ config: testConfig(db.url), pool: db.pool, mode: "kafka", suffix });
    await (api.sink as unknown as { connect(): Promise<void> }).connect();
    redis = createRedis(requireStackVar("REDIS_URL"), "entity-type-test");
    writer = await startWriter(db.pool, suffix, redis);
    const t = await newTenant(db.pool);
    key = t.api_key;
    tenantId = t.tenant_id;
    await registerAttributes(api.url, key, [["temperature", "decimal", true]]);
  });
  after(async () => {
    await api?.close();
    await writer?.stop();
    redis?.disconnect();
  });

  it("when a new entity's reading names no type, then it is stored and its type is null", async () => {
    await accepted({ readings: [{ entity_id: 7, values: { temperature: 30.5 } }] }, 1);
    expect(await typeOf(db.pool, tenantId, 7)).to.equal(null);
  });

  it("when a later reading names a type, then that type is set; readings without one keep it", async () => {
    await accepted({ readings: [{ entity_id: 7, entity_type: "sensor", ts: iso(1000), values: { temperature: 31 } }] }, 1);
    expect(await typeOf(db.pool, tenantId, 7)).to.equal("sensor");
    await accepted({ readings: [{ entity_id: 7, ts: iso(500), values: { temperature: 32 } }] }, 1);
    expect(await typeOf(db.pool, tenantId, 7)).to.equal("sensor");
  });

  it("when an NDJSON line names no type, for a known and for a new entity, then both are stored", async () => {
    const nd = [{ entity_id: 7, ts: iso(400), values: { temperature: 33 } }, { entity_id: 8, ts: iso(400), values: { temperature: 1 } }].map((r) => JSON.stringify(r)).join("\n");
    await accepted(nd, 2, "application/x-ndjson");
    expect(await typeOf(db.pool, tenantId, 7)).to.equal("sensor");
    expect(await typeOf(db.pool, tenantId, 8)).to.equal(null);
  });

  it("when a reading names another type than the stored one, then 400 naming that reading's entity_type, and nothing of the request is stored", async () => {
    const before = await historyCount(db.pool, tenantId);
    const r = await post(`${api.url}/v1/telemetry`, key, {
      readings: [
        { entity_id: 9, entity_type: "pump", values: { temperature: 5 } },
        { entity_id: 7, entity_type: "valve", values: { temperature: 40 } },
      ],
    });
    expect(r.status).to.equal(400);
    expect(r.body.error.code).to.equal("invalid_readings");
    expect(r.body.error.details).to.deep.equal([{ index: 1, field: "entity_type", reason: "entity 7 is a 'sensor'; its type cannot change to 'valve'" }]);
    await new Promise((res) => setTimeout(res, 1500));
    expect(await historyCount(db.pool, tenantId)).to.equal(before);
    expect(await typeOf(db.pool, tenantId, 9)).to.equal(undefined);
  });

  it("when one request names two types for one entity, then 400 naming the second reading's entity_type", async () => {
    const r = await post(`${api.url}/v1/telemetry`, key, {
      readings: [
        { entity_id: 10, entity_type: "pump", values: { temperature: 5 } },
        { entity_id: 10, values: { temperature: 6 } },
        { entity_id: 10, entity_type: "valve", values: { temperature: 7 } },
      ],
    });
    expect(r.status).to.equal(400);
    expect(r.body.error.details).to.have.length(1);
    expect(r.body.error.details[0]).to.include({ index: 2, field: "entity_type" });
  });

  it("when the same type is named again, then it is accepted", async () => {
    await accepted({ readings: [{ entity_id: 7, entity_type: "sensor", ts: iso(100), values: { temperature: 34 } }] }, 1);
  });
});
