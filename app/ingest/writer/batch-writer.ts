/**
 * The batch writer: a Kafka consumer group on the live and backfill topics
 * that stores each fetched batch with the storage step and only then commits
 * the batch's offsets.
 *
 * Per batch (one partition):
 *   1. skip unless isRunning() && !isStale() (a rebalance revoked it: the new
 *      owner will process it, we must not double-apply or commit for it);
 *   2. decode every message; a message that can never be stored (not our
 *      format, unknown attribute, value of the wrong type) is poison;
 *   3. COPY + stage_flush + COMMIT the rest in one transaction (heartbeat()
 *      keeps the group membership alive meanwhile); on a data error the batch
 *      is split in halves until the poison message(s) are isolated;
 *   4. poison → the DLQ topic with the reason and its origin (acks=all);
 *   5. invalidate the touched entities in Redis (best effort, see invalidate.ts);
 *   6. resolve the last offset and commit it.
 * A crash anywhere before 6 means redelivery of the batch; stage_flush's ON
 * CONFLICT DO NOTHING and its newest-ts merge make the replay a no-op.
 */
import { Partitioners, type Admin, type Consumer, type EachBatchPayload, type Kafka, type KafkaMessage, type Producer } from "kafkajs";
import type { Redis } from "ioredis";
import { surviveLostConnections, WRITER_ROLE, withTransaction, type Pool } from "../../shared/db";
import { log } from "../../shared/log";
import { ensureTopics } from "../kafka";
import { decodeMessage, isDataType, valueFitsType } from "../messages";
import { DEFAULT_TOPICS, WRITER_GROUP_ID, type DataType, type TelemetryMessage, type TopicNames } from "../types";
import { invalidateTouched } from "./invalidate";
import { consumerLag, dlqMessages, recordStored } from "./metrics";
import { isDataError, storeBatch, type StoreResult } from "./store-batch";

export interface BatchWriterOptions {
  kafka: Kafka;
  pool: Pool;
  redis?: Redis;
  cacheTtlSeconds: number;
  topics?: TopicNames;
  /** Defaults to atlas-batch-writer. */
  groupId?: string;
  /** Partitions stored in parallel (each its own transaction). Defaults to 2. */
  concurrency?: number;
  /** Write the replication heartbeat row every this many ms; 0 = off. Defaults to 1000. */
  dbHeartbeatMs?: number;
  /** Consumer lag refresh interval, ms. Defaults to 10 s. */
  lagIntervalMs?: number;
  /** Create missing topics at start. Defaults to true. */
  createTopics?: boolean;
}

interface Decoded {
  raw: KafkaMessage;
  message: TelemetryMessage;
  values: number;
}

interface Poison {
  raw: KafkaMessage;
  reason: string;
  category: string;
}

/** Attribute types by tenant and id, as the writer sees them (types never change). */
class WriterTypes {
  private readonly tenants = new Map<string, Map<number, DataType>>();
  constructor(private readonly pool: Pool) {}

  get(tenantId: string, attributeId: number): DataType | undefined {
    return this.tenants.get(tenantId)?.get(attributeId);
  }

  /** Loads the tenants that miss any of the given ids (one query per batch at most). */
  async ensure(messages: TelemetryMessage[]): Promise<void> {
    const stale = new Set<string>();
    for (const m of messages) {
      if (stale.has(m.tenant_id)) continue;
      const known = this.tenants.get(m.tenant_id);
      if (!known || m.readings.some((r) => r.values.some(([id]) => !known.has(id)))) stale.add(m.tenant_id);
    }
    if (stale.size === 0) return;
    const rows = await withTransaction(this.pool, async (c) => {
      await c.query(`SET LOCAL ROLE ${WRITER_ROLE}`);
      return (
        await c.query<{ tenant_id: string; attribute_id: number; data_type: string }>(
          "SELECT tenant_id, attribute_id, data_type FROM attributes WHERE tenant_id = ANY($1::uuid[])",
          [[...stale]],
        )
      ).rows;
    });
    for (const t of stale) this.tenants.set(t, new Map());
    for (const r of rows) if (isDataType(r.data_type)) this.tenants.get(r.tenant_id)!.set(r.attribute_id, r.data_type);
  }
}

export class BatchWriter {
  private readonly topics: TopicNames;
  private readonly groupId: string;
  private readonly consumer: Consumer;
  private readonly dlq: Producer;
  private readonly admin: Admin;
  private readonly types: WriterTypes;
  private timers: NodeJS.Timeout[] = [];
  private running = false;
  /** Counters for tests and logs. */
  readonly stats = { batches: 0, messages: 0, values: 0, poison: 0 };

  constructor(private readonly opts: BatchWriterOptions) {
    this.topics = opts.topics ?? DEFAULT_TOPICS;
    this.groupId = opts.groupId ?? WRITER_GROUP_ID;
    this.consumer = opts.kafka.consumer({
      groupId: this.groupId,
      // A dead writer's partitions move to another after this long (a SIGKILLed task sends no LeaveGroup).
      sessionTimeout: 15_000,
      heartbeatInterval: 3_000,
      // Bigger fetches → bigger COPY batches (fewer, cheaper transactions).
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxBytes: 16 * 1024 * 1024,
      maxWaitTimeInMs: 250,
      allowAutoTopicCreation: false,
    });
    this.dlq = opts.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.admin = opts.kafka.admin();
    this.types = new WriterTypes(opts.pool);
    surviveLostConnections(opts.pool, "writer"); // the pool may come from elsewhere (tests, npm start)
  }

  async start(): Promise<void> {
    // kafkajs restarts the consumer after a crash (restartOnFailure defaults to
    // true): a database outage makes eachBatch throw, nothing is committed, and
    // the batch is fetched again once the consumer rejoins.
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) =>
      log.error("writer consumer crashed; kafkajs restarts it", { error: payload.error, restart: payload.restart }),
    );
    await this.admin.connect();
    if (this.opts.createTopics ?? true) await ensureTopics(this.admin, this.topics);
    await this.dlq.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [this.topics.live, this.topics.backfill], fromBeginning: true });
    this.running = true;
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.opts.concurrency ?? 2,
      eachBatch: (payload) => this.handleBatch(payload),
    });
    const beatMs = this.opts.dbHeartbeatMs ?? 1_000;
    if (beatMs > 0) this.timers.push(setInterval(() => void this.beat(), beatMs));
    this.timers.push(setInterval(() => void this.measureLag(), this.opts.lagIntervalMs ?? 10_000));
    log.info("batch writer started", { group_id: this.groupId, topics: [this.topics.live, this.topics.backfill] });
  }

  /** Stops after the batches in hand are stored and committed, then disconnects. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.consumer.stop(); // waits for the running eachBatch calls to return
    await this.consumer.disconnect();
    await this.dlq.disconnect();
    await this.admin.disconnect();
    log.info("batch writer stopped", this.stats);
  }

  isRunning(): boolean {
    return this.running;
  }

  private async beat(): Promise<void> {
    try {
      await this.opts.pool.query("SELECT atlas_heartbeat()");
    } catch (err) {
      log.warn("replication heartbeat failed", { error: err });
    }
  }

  private async measureLag(): Promise<void> {
    try {
      for (const topic of [this.topics.live, this.topics.backfill]) {
        const [committed] = await this.admin.fetchOffsets({ groupId: this.groupId, topics: [topic] });
        const ends = await this.admin.fetchTopicOffsets(topic);
        const done = new Map(committed.partitions.map((p) => [p.partition, Number(p.offset)]));
        let lag = 0;
        for (const p of ends) {
          const c = done.get(p.partition) ?? -1;
          lag += Number(p.high) - (c < 0 ? Number(p.low) : c);
        }
        consumerLag.set({ topic }, lag);
      }
    } catch (err) {
      log.debug("consumer lag not measured", { error: err });
    }
  }

  private async handleBatch(p: EachBatchPayload): Promise<void> {
    const { batch } = p;
    if (!p.isRunning() || p.isStale() || batch.isEmpty()) return;

    const decoded: Decoded[] = [];
    const poison: Poison[] = [];
    for (const raw of batch.messages) {
      try {
        const message = decodeMessage(raw.value);
        decoded.push({ raw, message, values: message.readings.reduce((n, r) => n + r.values.length, 0) });
      } catch (err) {
        poison.push({ raw, reason: (err as Error).message, category: "decode" });
      }
    }

    await this.types.ensure(decoded.map((d) => d.message));
    const storable = decoded.filter((d) => {
      const reason = this.typeProblem(d.message);
      if (reason) poison.push({ raw: d.raw, reason, category: "type" });
      return !reason;
    });

    // Keep the group membership alive while PostgreSQL works (a long flush
    // must not make the coordinator think we died and hand the partition on).
    const beating = setInterval(() => p.heartbeat().catch(() => undefined), 2_000);
    let touched: StoreResult["touched"] = [];
    try {
      if (storable.length > 0) touched = await this.storeIsolating(storable, poison);
    } finally {
      clearInterval(beating);
    }

    if (poison.length > 0) await this.sendToDlq(batch.topic, batch.partition, poison);
    if (this.opts.redis) await invalidateTouched(this.opts.redis, touched, this.opts.cacheTtlSeconds);

    p.resolveOffset(batch.lastOffset());
    await p.commitOffsetsIfNecessary(p.uncommittedOffsets());
    await p.heartbeat().catch(() => undefined);
    this.stats.batches++;
    this.stats.messages += batch.messages.length;
    this.stats.poison += poison.length;
  }

  /** Why a decoded message can never be stored, or undefined when it can. */
  private typeProblem(m: TelemetryMessage): string | undefined {
    for (const r of m.readings) {
      for (const [id, v] of r.values) {
        const type = this.types.get(m.tenant_id, id);
        if (!type) return `attribute id ${id} is unknown to tenant ${m.tenant_id}`;
        if (!valueFitsType(type, v)) return `value of attribute id ${id} does not fit its type ${type}`;
      }
    }
    return undefined;
  }

  /**
   * Stores all messages in one transaction; when PostgreSQL refuses the data
   * (not: is unavailable), splits the list in halves until each refused
   * message is alone, and marks those poison. Unavailability throws: kafkajs
   * retries the batch, nothing is committed.
   */
  private async storeIsolating(items: Decoded[], poison: Poison[]): Promise<StoreResult["touched"]> {
    const started = process.hrtime.bigint();
    try {
      const result = await storeBatch(this.opts.pool, [items.map((d) => d.message)], (t, id) => this.types.get(t, id));
      const readings = items.reduce((n, d) => n + d.message.readings.length, 0);
      recordStored(result.values, readings, started, "kafka");
      this.stats.values += result.values;
      return result.touched;
    } catch (err) {
      if (!isDataError(err)) throw err;
      if (items.length === 1) {
        poison.push({ raw: items[0].raw, reason: `refused by PostgreSQL: ${(err as Error).message}`, category: "refused" });
        return [];
      }
      const mid = Math.ceil(items.length / 2);
      return [
        ...(await this.storeIsolating(items.slice(0, mid), poison)),
        ...(await this.storeIsolating(items.slice(mid), poison)),
      ];
    }
  }

  private async sendToDlq(topic: string, partition: number, poison: Poison[]): Promise<void> {
    await this.dlq.send({
      topic: this.topics.dlq,
      acks: -1,
      messages: poison.map((x) => ({
        key: x.raw.key,
        value: x.raw.value,
        headers: {
          "atlas-reason": x.reason,
          "atlas-source-topic": topic,
          "atlas-source-partition": String(partition),
          "atlas-source-offset": x.raw.offset,
          "atlas-failed-at": new Date().toISOString(),
        },
      })),
    });
    for (const x of poison) {
      dlqMessages.inc({ reason: x.category });
      log.warn("poison message sent to the dead-letter topic", {
        topic,
        partition,
        offset: x.raw.offset,
        reason: x.reason,
      });
    }
  }
}
