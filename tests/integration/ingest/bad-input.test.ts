/**
 * Every kind of bad input gets its status and error code, and stores nothing.
 * Direct mode: a request that was refused must leave no row behind, checked
 * right after the answer.
 */
import { expect } from "chai";
import { useTestDatabase } from "../../helpers/db";
import { historyCount, newTenant, post, registerAttributes, startApi, testConfig, type RunningApi } from "./harness";

describe("ingest API: bad input is refused whole, with its status and code, and nothing is stored", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  let api: RunningApi;
  let small: RunningApi;
  let key: string;
  let tenantId: string;
  const now = () => new Date().toISOString();

  before(async () => {
    api = await startApi({ config: testConfig(db.url, { KAFKA_BROKERS: undefined }), pool: db.pool, mode: "direct" });
    small = await startApi({
      config: testConfig(db.url, { KAFKA_BROKERS: undefined, INGEST_MAX_BODY_BYTES: "2000", INGEST_MAX_READINGS: "5" }),
      pool: db.pool,
      mode: "direct",
    });
    const t = await newTenant(db.pool);
    key = t.api_key;
    tenantId = t.tenant_id;
    await registerAttributes(api.url, key, [["temperature", "decimal", true], ["status", "string", true], ["count", "int"]]);
  });
  after(async () => {
    await api?.close();
    await small?.close();
  });
  afterEach(async () => {
    expect(await historyCount(db.pool, tenantId)).to.equal(0);
  });

  const good = (i: number) => ({ entity_id: i, entity_type: "sensor", ts: now(), values: { temperature: 20 + i } });

  it("when there is no API key or an unknown one, then 401", async () => {
    const r1 = await fetch(`${api.url}/v1/telemetry`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(r1.status).to.equal(401);
    const r2 = await post(`${api.url}/v1/telemetry`, "atk_00000000000000000000000000000000_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", { readings: [good(1)] });
    expect(r2.status).to.equal(401);
    expect(r2.body.error.code).to.equal("unauthorized");
  });

  it("when the content type is neither JSON nor NDJSON, then 415 unsupported_media_type", async () => {
    const r = await post(`${api.url}/v1/telemetry`, key, "entity_id=1", "application/x-www-form-urlencoded");
    expect(r.status).to.equal(415);
    expect(r.body.error).to.include({ code: "unsupported_media_type", field: "Content-Type" });
  });

  it("when the body is larger than INGEST_MAX_BODY_BYTES, then 413 payload_too_large", async () => {
    const r = await post(`${small.url}/v1/telemetry`, key, { readings: [good(1)], pad: "x".repeat(5000) });
    expect(r.status).to.equal(413);
    expect(r.body.error.code).to.equal("payload_too_large");
  });

  it("when an NDJSON stream grows past the limit, then 413 while streaming", async () => {
    const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify(good(i + 1))).join("\n");
    const r = await post(`${small.url}/v1/telemetry`, key, lines, "application/x-ndjson");
    expect(r.status).to.equal(413);
  });

  it("when a request holds more than INGEST_MAX_READINGS readings, then 413 too_many_readings", async () => {
    const r = await post(`${small.url}/v1/telemetry`, key, { readings: [1, 2, 3, 4, 5, 6].map(good) });
    expect(r.status).to.equal(413);
    expect(r.body.error).to.include({ code: "too_many_readings", field: "readings" });
  });

  it("when the body is not JSON, then 400 malformed_json", async () => {
    const r = await post(`${api.url}/v1/telemetry`, key, '{"readings": [', "application/json");
    expect(r.status).to.equal(400);
    expect(r.body.error.code).to.equal("malformed_json");
  });

  it("when the body has no readings array, then 400 invalid_body", async () => {
    const r = await post(`${api.url}/v1/telemetry`, key, { data: [] });
    expect(r.status).to.equal(400);
    expect(r.body.error).to.include({ code: "invalid_body", field: "readings" });
  });

  it("when the readings array is empty, then 400", async () => {
    const r = await post(`${api.url}/v1/telemetry`, key, { readings: [] });
    expect(r.status).to.equal(400);
    expect(r.body.error.code).to.equal("invalid_readings");
  });

  it("when some readings are bad, then 400 invalid_readings lists every bad one (index, field, reason) and the good ones are not stored", async () => {
    const readings = [
      good(1),
      { ...good(2), values: { temperature: "warm" } },
      good(3),
      { ...good(4), entity_id: -4 },
      { ...good(5), values: { humidity: 1 } },
      { ...good(6), ts: new Date(Date.now() + 3600_000).toISOString() },
      { ...good(7), values: { count: 1.5, status: 7 } },
    ];
    const r = await post(`${api.url}/v1/telemetry`, key, { readings });
    expect(r.status).to.equal(400);
    expect(r.body.error.code).to.equal("invalid_readings");
    expect(r.body.error.field).to.equal("readings");
    expect(r.body.error.message).to.match(/^5 of 7 readings are invalid/);
    const details = r.body.error.details as Array<{ index: number; field: string; reason: string }>;
    expect(details.map((d) => [d.index, d.field])).to.deep.equal([
      [1, "values.temperature"],
      [3, "entity_id"],
      [4, "values.humidity"],
      [5, "ts"],
      [6, "values.count"],
      [6, "values.status"],
    ]);
    expect(details[2].reason).to.match(/unknown attribute 'humidity'/);
    expect(details[3].reason).to.match(/future/);
  });

  it("when an NDJSON body has a line that is not JSON, then 400 names its index and nothing is stored", async () => {
    const body = [JSON.stringify(good(1)), "{oops", JSON.stringify(good(3))].join("\n");
    const r = await post(`${api.url}/v1/telemetry`, key, body, "application/x-ndjson");
    expect(r.status).to.equal(400);
    expect(r.body.error.details).to.deep.equal([{ index: 1, field: "reading", reason: "line is not valid JSON" }]);
  });

  it("when more than 100 readings are bad, then the list is capped and the message says how many more", async () => {
    const readings = Array.from({ length: 150 }, (_, i) => ({ ...good(i + 1), values: { temperature: "x" } }));
    const r = await post(`${api.url}/v1/telemetry`, key, { readings });
    expect(r.status).to.equal(400);
    expect(r.body.error.details).to.have.length(100);
    expect(r.body.error.message).to.match(/150 of 150 readings are invalid.*50 more not listed/);
  });

  it("when an attribute is re-registered with another type, then 409 attribute_type_conflict naming it", async () => {
    const r = await post(`${api.url}/v1/attributes`, key, { name: "temperature", data_type: "string" });
    expect(r.status).to.equal(409);
    expect(r.body.error.code).to.equal("attribute_type_conflict");
    expect(r.body.error.message).to.match(/'temperature' exists with data type decimal/);
    const same = await post(`${api.url}/v1/attributes`, key, { name: "temperature", data_type: "decimal", hot: true });
    expect(same.status).to.equal(200);
  });

  it("when an attribute registration is malformed, then 400 invalid_attribute", async () => {
    const r = await post(`${api.url}/v1/attributes`, key, { name: "9lives", data_type: "decimal" });
    expect(r.status).to.equal(400);
    expect(r.body.error).to.include({ code: "invalid_attribute", field: "name" });
    const r2 = await post(`${api.url}/v1/attributes`, key, { name: "x", data_type: "float" });
    expect(r2.body.error.field).to.equal("data_type");
  });

  it("when a tenant goes over its request rate, then 429 with Retry-After naming the requests limit", async () => {
    const t = await newTenant(db.pool);
    await db.pool.query("UPDATE tenants SET rate_limit_rps = 1 WHERE tenant_id = $1", [t.tenant_id]);
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof post>> | undefined;
    for (let i = 0; i < 4; i++) {
      const r = await post(`${api.url}/v1/telemetry`, t.api_key, { readings: [] });
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    expect(statuses.slice(0, 2)).to.deep.equal([400, 400]); // burst of 2× the rate
    expect(limited, "a 429").to.not.equal(undefined);
    expect(limited!.headers.get("retry-after")).to.match(/^\d+$/);
    expect(limited!.body.error.code).to.equal("rate_limited");
    expect(limited!.body.error.details.limit).to.equal("requests");
  });

  it("when a tenant goes over its readings rate, then 429 naming the readings limit", async () => {
    const limitedApi = await startApi({
      config: testConfig(db.url, { KAFKA_BROKERS: undefined }),
      pool: db.pool,
      mode: "direct",
      rateLimits: { liveReadingsPerSecond: 2 },
    });
    try {
      const t = await newTenant(db.pool);
      await registerAttributes(limitedApi.url, t.api_key, [["temperature", "decimal"]]);
      const first = await post(`${limitedApi.url}/v1/telemetry`, t.api_key, { readings: [1, 2, 3, 4].map(good) });
      expect(first.status).to.equal(202);
      const second = await post(`${limitedApi.url}/v1/telemetry`, t.api_key, { readings: [good(5)] });
      expect(second.status).to.equal(429);
      expect(second.body.error.details.limit).to.equal("readings");
      expect(Number(second.headers.get("retry-after"))).to.be.greaterThan(0);
      await db.pool.query("DELETE FROM entity_values_ts WHERE tenant_id = $1", [t.tenant_id]);
    } finally {
      await limitedApi.close();
    }
  });
});
