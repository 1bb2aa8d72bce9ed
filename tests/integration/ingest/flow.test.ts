/**
 * The write path end to end on the real stack: HTTP → Kafka → batch writer →
 * PostgreSQL (history + hot projection), and the direct mode.
 */
import { expect } from "chai";
import http from "http";
import type { Kafka } from "kafkajs";
import { projectionOf, useTestDatabase } from "../../helpers/db";
import { requireStackVar } from "../../helpers/stack-env";
import { createKafka } from "../../../app/ingest/kafka";
import { entityKey, versionKey } from "../../../app/shared/cache/entity-cache";
import { createRedis, type Redis } from "../../../app/shared/redis";
import { topicNames, type BatchWriter } from "../../../app/ingest/writer";
import {
  historyCount,
  newSuffix,
  newTenant,
  post,
  registerAttributes,
  startApi,
  spawnEntry,
  startWriter,
  testConfig,
  waitFor,
  type RunningApi,
} from "./harness";

const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

describe("ingest over Kafka: posted readings reach history and the hot projection", function () {
  this.timeout(180_000);
  const db = useTestDatabase();
  const suffix = newSuffix();
  let api: RunningApi;
  let writer: BatchWriter;
  let kafka: Kafka;
  let redis: Redis;
  let key: string;
  let tenantId: string;

  before(async () => {
    const config = testConfig(db.url, { INGEST_MAX_READINGS: "100000", INGEST_MAX_BODY_BYTES: String(64 * 1024 * 1024) });
    api = await startApi({ config, pool: db.pool, mode: "kafka", suffix });
    await (api.sink as unknown as { connect(): Promise<void> }).connect();
    redis = createRedis(requireStackVar("REDIS_URL"), "ingest-flow-test");
    writer = await startWriter(db.pool, suffix, redis);
    kafka = createKafka({ brokers: requireStackVar("KAFKA_BROKERS").split(","), clientId: "ingest-flow-test" });
    const t = await newTenant(db.pool);
    key = t.api_key;
    tenantId = t.tenant_id;
    await registerAttributes(api.url, key, [
      ["temperature", "decimal", true],
      ["status", "string", true],
      ["count", "int"],
      ["online", "bool"],
      ["seen_at", "timestamp"],
    ]);
  });
  after(async () => {
    await api?.close();
    await writer?.stop();
    redis?.disconnect();
  });

  it("when readings are posted as JSON, then 202 and they are readable in history and the hot projection", async () => {
    const r = await post(`${api.url}/v1/telemetry`, key, {
      readings: [
        { entity_id: 1, entity_type: "sensor", ts: iso(60_000), values: { temperature: 70.5, status: "online", count: 3 } },
        { entity_id: 1, entity_type: "sensor", ts: iso(30_000), values: { temperature: 75.5, online: true } },
        { entity_id: "9223372036854775807", entity_type: "pump", ts: iso(1000), values: { status: "tab\there\nnewline \\ back", seen_at: "2026-11-24T10:00:00Z", count: "9223372036854775807" } },
        { entity_id: 2, entity_type: "sensor", ts: iso(9 * 86_400_000), values: { temperature: 1 } }, // backfill lane
      ],
    });
    expect(r.status).to.equal(202);
    expect(r.body).to.deep.equal({ accepted: 4 });
    await waitFor(async () => (await historyCount(db.pool, tenantId)) === 9, 30_000, "9 history rows");
    const rows = await Promise.all(["1", "2", "9223372036854775807"].map(async (id) => (await projectionOf(db.pool, tenantId, id))!));
    expect(rows.map((x) => x.entity_id)).to.deep.equal(["1", "2", "9223372036854775807"]);
    expect(rows[0].hot).to.deep.equal({ temperature: 75.5, status: "online" });
    expect(rows[0].latest.count.v).to.equal(3);
    expect(rows[0].latest.online.v).to.equal(true);
    expect(rows[2].entity_type).to.equal("pump");
    expect(rows[2].hot.status).to.equal("tab\there\nnewline \\ back");
    expect(rows[2].latest.seen_at.v).to.equal("2026-11-24T10:00:00.000Z");
    const big = await db.pool.query(
      "SELECT value_int::text FROM entity_values_ts WHERE tenant_id = $1 AND value_int IS NOT NULL AND entity_id = 9223372036854775807",
      [tenantId],
    );
    expect(big.rows[0].value_int).to.equal("9223372036854775807");
  });

  it("when the same reading is posted twice, then it is stored once", async () => {
    const reading = { entity_id: 77, entity_type: "sensor", ts: iso(5_000), values: { temperature: 1.25, count: 8 } };
    const before = await historyCount(db.pool, tenantId);
    expect((await post(`${api.url}/v1/telemetry`, key, { readings: [reading] })).status).to.equal(202);
    expect((await post(`${api.url}/v1/telemetry`, key, { readings: [reading, reading] })).status).to.equal(202);
    // A marker posted after both: once it is stored, the writer has passed the duplicates (same partition).
    const marker = { entity_id: 77, entity_type: "sensor", ts: iso(1_000), values: { status: "marker" } };
    expect((await post(`${api.url}/v1/telemetry`, key, { readings: [marker] })).status).to.equal(202);
    await waitFor(async () => (await historyCount(db.pool, tenantId)) === before + 3, 30_000, "marker stored");
    const { rows } = await db.pool.query(
      "SELECT count(*)::int AS n FROM entity_values_ts WHERE tenant_id = $1 AND entity_id = 77",
      [tenantId],
    );
    expect(rows[0].n).to.equal(3);
  });

  it("when an entity's readings are stored, then its cached value is dropped and its version bumped (after the commit)", async () => {
    await waitFor(async () => redis.status === "ready", 5_000, "redis");
    await redis.set(entityKey(tenantId, 55), JSON.stringify({ stale: true }), "EX", 60);
    await redis.set(versionKey(tenantId, 55), "7", "EX", 120);
    const r = await post(`${api.url}/v1/telemetry`, key, { readings: [{ entity_id: 55, entity_type: "sensor", ts: iso(100), values: { temperature: 5.5 } }] });
    expect(r.status).to.equal(202);
    await waitFor(async () => (await redis.get(entityKey(tenantId, 55))) === null, 30_000, "cache entry dropped");
    expect(await redis.get(versionKey(tenantId, 55))).to.equal("8");
    const { rows } = await db.pool.query("SELECT hot FROM entity_jsonb WHERE tenant_id = $1 AND entity_id = 55", [tenantId]);
    expect(rows[0].hot).to.deep.equal({ temperature: 5.5 });
  });

  it("when a message can never be stored, then it goes to the dead-letter topic with its reason and the writer moves on", async () => {
    const topics = topicNames(suffix);
    const producer = kafka.producer();
    await producer.connect();
    const k = `${tenantId}:88`;
    await producer.send({
      topic: topics.live,
      acks: -1,
      messages: [
        { key: k, value: "this is not json" },
        {
          key: k,
          value: JSON.stringify({
            v: 1, tenant_id: tenantId, received_at: iso(0), entity_id: "88", entity_type: "sensor",
            readings: [{ ts: iso(0), values: [[999999, 1]] }],
          }),
        },
      ],
    });
    await producer.disconnect();
    // A good reading of the same entity (same partition, after the poison).
    const good = { entity_id: 88, entity_type: "sensor", ts: iso(500), values: { temperature: 8.8 } };
    expect((await post(`${api.url}/v1/telemetry`, key, { readings: [good] })).status).to.equal(202);
    await waitFor(
      async () => (await db.pool.query("SELECT 1 FROM entity_values_ts WHERE tenant_id = $1 AND entity_id = 88", [tenantId])).rowCount === 1,
      30_000,
      "good reading after poison stored",
    );

    const consumer = kafka.consumer({ groupId: `dlq-reader${suffix}` });
    await consumer.connect();
    await consumer.subscribe({ topic: topics.dlq, fromBeginning: true });
    const seen: Array<{ key: string; reason: string; offset: string }> = [];
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push({
          key: message.key!.toString(),
          reason: message.headers!["atlas-reason"]!.toString(),
          offset: message.headers!["atlas-source-offset"]!.toString(),
        });
      },
    });
    try {
      await waitFor(async () => seen.length >= 2, 30_000, "two DLQ messages");
    } finally {
      await consumer.disconnect();
    }
    expect(seen.map((s) => s.key)).to.deep.equal([k, k]);
    expect(seen[0].reason).to.match(/not JSON/);
    expect(seen[1].reason).to.match(/attribute id 999999 is unknown/);
  });

  it("when 100k readings are streamed as NDJSON, then they are all stored, and the API process's memory stays well below the body size", async () => {
    // The API as its own process (app/ingest/main.ts), so its memory is measured alone.
    const child = spawnEntry("app/ingest/main.ts", {
      DATABASE_URL: db.url,
      KAFKA_BROKERS: requireStackVar("KAFKA_BROKERS"),
      PORT: "0",
      INGEST_MAX_READINGS: "1000000",
      INGEST_MAX_BODY_BYTES: String(256 * 1024 * 1024),
      ATLAS_TOPIC_SUFFIX: suffix,
    });
    try {
      const listening = await child.waitForLog((l) => l.msg === "ingest api listening", 90_000);
      const url = `http://127.0.0.1:${listening.port}`;
      const t = await newTenant(db.pool);
      await registerAttributes(url, t.api_key, [["temperature", "decimal", true], ["status", "string", true]]);
      await post(`${url}/v1/telemetry`, t.api_key, { readings: [{ entity_id: 1, entity_type: "sensor", values: { temperature: 0 } }] }); // warm-up
      await new Promise((r) => setTimeout(r, 500));
      const N = Number(process.env.ATLAS_NDJSON_READINGS ?? 100_000);
      const base = Date.now() - 3_600_000;
      let bodyBytes = 0;
      const rss0 = child.memory().rss;
      const started = Date.now();
      const timeline: string[] = [];
      const sampler = setInterval(() => timeline.push(`${Date.now() - started}:${Math.round((child.memory().rss - rss0) / 1048576)}`), 250);
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const u = new URL(`${url}/v1/telemetry`);
        const req = http.request(
          { host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { authorization: `Bearer ${t.api_key}`, "content-type": "application/x-ndjson" } },
          (r) => {
            let body = "";
            r.on("data", (c) => (body += c));
            r.on("end", () => resolve({ status: r.statusCode!, body }));
          },
        );
        req.on("error", reject);
        let i = 0;
        const write = () => {
          while (i < N) {
            const lines: string[] = [];
            for (let j = 0; j < 500 && i < N; j++, i++) {
              lines.push(JSON.stringify({ entity_id: (i % 1000) + 1, entity_type: "sensor", ts: new Date(base + i).toISOString(), values: { temperature: i / 10, status: i % 2 ? "on" : "off" } }));
            }
            const chunk = lines.join("\n") + "\n";
            bodyBytes += chunk.length;
            if (!req.write(chunk)) return req.once("drain", write);
          }
          req.end();
        };
        write();
      });
      const httpMs = Date.now() - started;
      clearInterval(sampler);
      if (process.env.ATLAS_TEST_TIMELINE) console.log(timeline.join(" "));
      const mem = child.memory();
      expect(res.status, res.body).to.equal(202);
      expect(JSON.parse(res.body)).to.deep.equal({ accepted: N });
      await waitFor(async () => (await historyCount(db.pool, t.tenant_id)) === 2 * N + 1, 120_000, "200k values stored");
      const totalMs = Date.now() - started;
      const { rows } = await db.pool.query(
        "SELECT count(DISTINCT entity_id)::int AS e, sum(value_decimal)::float8 AS s FROM entity_values_ts WHERE tenant_id = $1",
        [t.tenant_id],
      );
      expect(rows[0].e).to.equal(1000);
      expect(rows[0].s).to.be.closeTo(((N - 1) * N) / 2 / 10, 1e-3);
      const peakDelta = mem.peak - rss0;
      console.log(
        `      NDJSON ${N} readings, body ${(bodyBytes / 1048576).toFixed(1)} MiB: 202 after ${httpMs} ms, ` +
          `stored after ${totalMs} ms (${Math.round((2 * N) / (totalMs / 1000))} values/s end to end); ` +
          `API process RSS before ${(rss0 / 1048576).toFixed(0)} MiB, peak delta ${(peakDelta / 1048576).toFixed(1)} MiB`,
      );
      // The body is never held: validated readings are spooled at ~55 bytes each
      // (5 MiB here); the rest of the peak is V8 garbage of the publish phase,
      // collected as it goes (ATLAS_TEST_TIMELINE=1 prints the RSS over time).
      expect(peakDelta).to.be.lessThan(96 * 1048576);
    } finally {
      child.proc.kill("SIGTERM");
      await child.exited;
    }
  });
});

describe("ingest in direct mode (no Kafka): 202 after the PostgreSQL commit", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  let api: RunningApi;

  before(async () => {
    api = await startApi({ config: testConfig(db.url, { KAFKA_BROKERS: undefined }), pool: db.pool, mode: "direct" });
  });
  after(async () => api?.close());

  it("when readings are posted, then they are in history and the hot projection as soon as the 202 arrives", async () => {
    const t = await newTenant(db.pool);
    await registerAttributes(api.url, t.api_key, [["temperature", "decimal", true], ["status", "string", false]]);
    const r = await post(`${api.url}/v1/telemetry`, t.api_key, {
      readings: [
        { entity_id: 5, entity_type: "sensor", ts: iso(2000), values: { temperature: 20.5, status: "ok" } },
        { entity_id: 5, entity_type: "sensor", ts: iso(1000), values: { temperature: 21.5 } },
      ],
    });
    expect(r.status).to.equal(202);
    expect(await historyCount(db.pool, t.tenant_id)).to.equal(3);
    const p = (await projectionOf(db.pool, t.tenant_id, 5))!;
    expect(p.hot).to.deep.equal({ temperature: 21.5 });
    expect(p.latest.status.v).to.equal("ok");
  });

  it("when the tenant auto-registers unknown attributes, then they are registered with the inferred type and stored", async () => {
    const t = await newTenant(db.pool, { unknownAttributes: "register" });
    const r = await post(`${api.url}/v1/telemetry`, t.api_key, {
      readings: [{ entity_id: 1, entity_type: "meter", ts: iso(1000), values: { watts: 12, label: "a", on: true } }],
    });
    expect(r.status, JSON.stringify(r.body)).to.equal(202);
    const attrs: any = await fetch(`${api.url}/v1/attributes`, { headers: { authorization: `Bearer ${t.api_key}` } }).then((x) => x.json());
    expect(attrs.attributes.map((a: { name: string; data_type: string }) => [a.name, a.data_type])).to.deep.equal([
      ["label", "string"],
      ["on", "bool"],
      ["watts", "decimal"],
    ]);
    expect(await historyCount(db.pool, t.tenant_id)).to.equal(3);
  });
});
