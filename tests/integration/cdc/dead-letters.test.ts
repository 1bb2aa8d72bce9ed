/**
 * CDC dead letters on the real stack: a message the loader cannot load goes
 * to atlas.cdc.dlq with its reason and origin while loading goes on, and
 * `npm run reconcile -- --reprocess` applies the dead letters the current
 * code reads and re-queues the others.
 *
 * Every loader group that meets a poison message writes its own copy (other
 * suites' loaders may run meanwhile), so assertions pick this suite's letters
 * by group and source offset. The DLQ is shared: reprocess runs in a group of
 * its own, started where this suite's letters begin. Readings that exist
 * only in Kafka (not on the primary) belong to random tenants and are
 * deleted from the warehouse afterwards, so reconcile stays clean.
 */
import { expect } from "chai";
import { randomBytes, randomUUID } from "crypto";
import type { Kafka, KafkaMessage, Producer } from "kafkajs";
import { Pool } from "pg";
import { CAPTURED_TABLES, heartbeatTopicOf, topicOf } from "../../../app/cdc/connector-config";
import { deadLetterTopicOf, DeadLetterWriter } from "../../../app/cdc/dead-letters";
import type { Loader } from "../../../app/cdc/loader/loader";
import { createKafka } from "../../../app/ingest/kafka";
import { registry } from "../../../app/shared/http/metrics";
import { flush } from "../../helpers/db";
import { ensurePipeline, factCount, newGroupId, newTenantWithAttributes, reconcileCli, stack, startTestLoader, waitFor } from "./harness";

const DLQ = deadLetterTopicOf();
const SOURCE = topicOf("entity_values_ts");

type Letter = { offset: string; value: string; headers: Record<string, string> };

/** The dead letters of `topic` from `from` on (partition 0, the only one) that `pick` selects, once `enough` holds. */
async function readDlq(kafka: Kafka, topic: string, from: string, pick: (l: Letter) => boolean, enough: (ls: Letter[]) => boolean): Promise<Letter[]> {
  const groupId = newGroupId();
  const admin = kafka.admin();
  await admin.connect();
  await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: from }] });
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
  const found: Letter[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic] });
    await consumer.run({
      eachMessage: async ({ message: m }: { message: KafkaMessage }) => {
        const headers = Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)]));
        const l = { offset: m.offset, value: m.value?.toString() ?? "", headers };
        if (pick(l)) found.push(l);
      },
    });
    await waitFor(async () => enough(found), 60_000, "the dead letters");
    return found;
  } finally {
    await consumer.disconnect();
  }
}

const dlqEnd = async (kafka: Kafka): Promise<string> => {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(DLQ))[0].high;
  } finally {
    await admin.disconnect();
  }
};


/** A Debezium insert event of one reading, as the connector writes it (JSON, no schema). */
function readingEvent(tenantId: string, entityId: number, attributeId: number, value: number, extra: Record<string, unknown> = {}) {
  const now = Date.now();
  return JSON.stringify({
    before: null,
    after: {
      tenant_id: tenantId, entity_id: entityId, attribute_id: attributeId, ts: new Date(now - 3_600_000).toISOString(),
      received_at: null, value_int: null, value_decimal: value, value_bool: null, value_string: null, value_ts: null, ...extra,
    },
    source: { ts_ms: now, lsn: 1, table: "entity_values_ts", snapshot: "false" },
    op: "c",
    ts_ms: now,
  });
}

describe("CDC dead letters: the loader sends what it cannot load to atlas.cdc.dlq, and reconcile --reprocess replays it", function () {
  this.timeout(240_000);
  let pool: Pool;
  let wh: Pool;
  let kafka: Kafka;
  let producer: Producer;
  let loader: Loader;
  const groupId = newGroupId();
  let dlqStart: string;
  let notJson: { offset: string; reason: RegExp };
  // Tenants not on the primary: their readings come from Kafka alone.
  const strayTenants: string[] = [];

  before(async function () {
    this.timeout(180_000);
    await ensurePipeline();
    pool = new Pool({ connectionString: stack().databaseUrl, max: 4 });
    wh = new Pool({ connectionString: stack().warehouseUrl, max: 4 });
    kafka = createKafka({ brokers: stack().brokers, clientId: "atlas-cdc-dlq-test" });
    producer = kafka.producer();
    await producer.connect();
    loader = await startTestLoader({ groupId }); // creates the DLQ topic
    dlqStart = await dlqEnd(kafka);
  });

  after(async () => {
    for (const t of strayTenants) {
      await wh?.query("DELETE FROM fact_readings WHERE tenant_id = $1", [t]);
      await wh?.query("DELETE FROM current_state WHERE tenant_id = $1", [t]);
    }
    await loader?.stop();
    await producer?.disconnect();
    await pool?.end();
    await wh?.end();
  });

  it("when an undecodable message reaches the loader, then it lands in the dead-letter topic with its reason, origin and original headers, and the readings after it load", async () => {
    const { tenantId, attrs } = await newTenantWithAttributes(pool, [["temperature", "decimal"]]);
    const attributeId = attrs.get("temperature")!;
    const [sent] = await producer.send({
      topic: SOURCE,
      messages: [{ partition: 0, key: "not-json", value: "{this is not a debezium event", headers: { "x-origin": "dead-letters.test" } }],
    });
    notJson = { offset: sent.baseOffset!, reason: /message value is not JSON/ };
    const ts = new Date(Date.now() - 60_000).toISOString();
    await flush(pool, randomUUID(), Array.from({ length: 20 }, (_, i) => ({ tenant_id: tenantId, entity_id: i + 1, attribute_id: attributeId, ts, value_decimal: i })));

    await waitFor(async () => (await factCount(wh, tenantId)) === 20, 60_000, "the 20 readings after the poison");
    const [letter] = await readDlq(
      kafka,
      DLQ,
      dlqStart,
      (l) => l.headers["atlas-consumer-group"] === groupId && l.headers["atlas-source-offset"] === notJson.offset,
      (ls) => ls.length > 0,
    );
    expect(letter.headers["atlas-reason"]).to.match(notJson.reason);
    expect(letter.headers).to.include({ "atlas-source-topic": SOURCE, "atlas-source-partition": "0", "atlas-attempts": "1", "x-origin": "dead-letters.test" });
    expect(Date.parse(letter.headers["atlas-failed-at"])).to.be.closeTo(Date.now(), 120_000);
    expect(letter.value).to.equal("{this is not a debezium event");

    const counted = /atlas_cdc_dead_letters_total\{topic="atlas\.public\.entity_values_ts"\} (\d+)/.exec(await registry.metrics());
    expect(Number(counted?.[1] ?? 0)).to.be.at.least(1);
  });

  it("when a change event has a column of the wrong type, then that event alone is dead-lettered and the rest of its micro-batch loads", async () => {
    // On topics of a prefix of its own: a loader of the code before this
    // change failed such a micro-batch on every retry (it stalled), and other
    // checkouts' loaders may read the stack's topics.
    const prefix = `atlas-dlqtest-${randomBytes(3).toString("hex")}`;
    const own = await startTestLoader({ groupId: newGroupId(), topicPrefix: prefix, fresh: false }); // new topics: read from their start
    const topics = [...CAPTURED_TABLES.map((t) => topicOf(t, prefix)), heartbeatTopicOf(prefix), deadLetterTopicOf(prefix)];
    try {
      const tenant = randomUUID();
      strayTenants.push(tenant);
      // One send to one partition: one fetch, one micro-batch.
      const [sent] = await producer.send({
        topic: topicOf("entity_values_ts", prefix),
        messages: [
          { partition: 0, value: readingEvent(tenant, 1, 1, 1.5) },
          { partition: 0, value: readingEvent(tenant, 2, 1, 2.5, { entity_id: "seven" }) },
          { partition: 0, value: readingEvent(tenant, 3, 1, 3.5) },
        ],
      });
      await waitFor(async () => (await factCount(wh, tenant)) === 2, 60_000, "the 2 valid readings of the batch");
      const letters = await readDlq(kafka, deadLetterTopicOf(prefix), "0", () => true, (ls) => ls.length > 0);
      expect(letters).to.have.length(1);
      expect(letters[0].headers["atlas-reason"]).to.match(/^cannot plan: column entity_id: expected a number, got "seven"/);
      expect(letters[0].headers["atlas-source-offset"]).to.equal(String(BigInt(sent.baseOffset!) + 1n));
    } finally {
      await own.stop();
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it("when the warehouse refuses one event of a micro-batch (a text longer than its varchar(65535)), then that event alone is dead-lettered with the warehouse's reason and the rest of the batch loads", async () => {
    // Own topics, as above: the code before this change retried such a batch
    // three times and then stopped the loader on it, forever.
    const prefix = `atlas-dlqtest-${randomBytes(3).toString("hex")}`;
    const own = await startTestLoader({ groupId: newGroupId(), topicPrefix: prefix, fresh: false });
    const topics = [...CAPTURED_TABLES.map((t) => topicOf(t, prefix)), heartbeatTopicOf(prefix), deadLetterTopicOf(prefix)];
    try {
      const tenant = randomUUID();
      strayTenants.push(tenant);
      const tooLong = "x".repeat(70_000);
      const [sent] = await producer.send({
        topic: topicOf("entity_values_ts", prefix),
        messages: [1, 2, 3, 4, 5].map((entity) => ({
          partition: 0,
          value: entity === 4 ? readingEvent(tenant, entity, 1, 0, { value_decimal: null, value_string: tooLong }) : readingEvent(tenant, entity, 1, entity + 0.5),
        })),
      });
      await waitFor(async () => (await factCount(wh, tenant)) === 4, 90_000, "the 4 readings the warehouse takes");
      const letters = await readDlq(kafka, deadLetterTopicOf(prefix), "0", () => true, (ls) => ls.length > 0);
      expect(letters).to.have.length(1);
      expect(letters[0].headers["atlas-reason"]).to.match(/^warehouse refused: .*(too long|character varying)/);
      expect(letters[0].headers["atlas-source-offset"]).to.equal(String(BigInt(sent.baseOffset!) + 3n));
      const { rows } = await wh.query<{ entity_id: string }>("SELECT entity_id FROM fact_readings WHERE tenant_id = $1 ORDER BY entity_id", [tenant]);
      expect(rows.map((r) => Number(r.entity_id))).to.deep.equal([1, 2, 3, 5]);
    } finally {
      await own.stop();
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it("when the current code reads a dead letter, then reconcile --reprocess applies it once, re-queues the still-undecodable ones with their reason (exit 1), and later runs change nothing", async () => {
    // A letter as an earlier loader wrote it, whose plan required received_at;
    // the current plan accepts a reading without it, so this one loads now.
    const tenant = randomUUID();
    strayTenants.push(tenant);
    const earlier = new DeadLetterWriter(kafka, DLQ, "atlas-cdc-loader-earlier-version");
    await earlier.connect();
    const source = { topic: SOURCE, partition: 0, offset: String(9e15 + Math.floor(Math.random() * 1e9)) };
    const letter = { source, key: null, value: Buffer.from(readingEvent(tenant, 7, 1, 42.5)), headers: {}, attempts: 1, reason: "cannot plan: column received_at: expected a string, got null" };
    // Written twice (a loader retried its flush): reprocess dedupes by source offset.
    await earlier.send([letter]);
    await earlier.send([letter]);
    await earlier.disconnect();

    const reprocessGroup = newGroupId();
    const rewind = async () => {
      const admin = kafka.admin();
      await admin.connect();
      await admin.setOffsets({ groupId: reprocessGroup, topic: DLQ, partitions: [{ partition: 0, offset: dlqStart }] });
      await admin.disconnect();
    };
    await rewind();

    const run1 = await reconcileCli(["--reprocess", "--group", reprocessGroup, "--json"]);
    expect(run1.status, run1.stderr).to.equal(1);
    const r1 = JSON.parse(run1.stdout);
    expect(r1.applied).to.be.at.least(1);
    expect(r1.duplicates).to.be.at.least(1);
    const failing = r1.stillFailing.find((x: { topic: string; offset: string }) => x.topic === SOURCE && x.offset === notJson.offset);
    expect(failing, "the undecodable message is still failing").to.include({ attempts: 2 });
    expect(failing.reason).to.match(notJson.reason);
    const { rows } = await wh.query("SELECT value_num FROM fact_readings WHERE tenant_id = $1", [tenant]);
    expect(rows).to.deep.equal([{ value_num: 42.5 }]);

    // The next run reads on from the committed offset: only the re-queued letters, which fail again.
    const run2 = await reconcileCli(["--reprocess", "--group", reprocessGroup]);
    expect(run2.status, run2.stderr).to.equal(1);
    expect(run2.stdout).to.match(/ 0 applied/).and.match(/attempt 3\): message value is not JSON/);

    // From the start again: the letter applies again, and the merge (by source LSN) keeps one row.
    await rewind();
    const run3 = await reconcileCli(["--reprocess", "--group", reprocessGroup, "--json"]);
    expect(JSON.parse(run3.stdout).applied, run3.stderr).to.be.at.least(1);
    expect(await factCount(wh, tenant)).to.equal(1);
  });
});
