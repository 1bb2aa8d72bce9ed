/**
 * The CDC dead-letter topic (`atlas.cdc.dlq`): change events the loader
 * cannot load go there with the reason instead of being skipped, and
 * `npm run reconcile -- --reprocess` replays them once the code reads them.
 *
 * A record is the original message (key, value, headers) plus our headers,
 * named as the batch writer's DLQ names them (app/ingest/writer/batch-writer.ts):
 * atlas-reason, atlas-source-topic/-partition/-offset, atlas-failed-at, and
 * atlas-consumer-group (which loader) and atlas-attempts (1, +1 per re-queue).
 * The loader writes it (acks=all) before it commits past the source offset,
 * so a crash may write a record twice but never loses one, and every loader
 * group that meets a poison message writes its own copy: reprocess dedupes
 * by source topic/partition/offset.
 *
 * Reprocess reads from its own group's committed offset to the end the topic
 * had when it started; per fetched batch it decodes every record with the
 * current code, applies what decodes now through the loader's plan/apply in
 * one warehouse transaction, re-queues what still fails (new reason,
 * attempts + 1), then commits. The merge keeps the newer source LSN, so a
 * replay changes nothing, with one blind spot: an insert replayed after a
 * later delete of the same row brings the row back (the warehouse keeps no
 * tombstones); reconcile reports such a row.
 */
import { Partitioners, type Admin, type EachBatchPayload, type IHeaders, type Kafka, type KafkaMessage, type Producer } from "kafkajs";
import { TOPIC_PARTITIONS } from "../ingest/kafka";
import { withTransaction, type Pool } from "../shared/db";
import { counter } from "../shared/http/metrics";
import { log } from "../shared/log";
import { TOPIC_PREFIX } from "./connector-config";
import { applyPlan } from "./loader/apply";
import { decodeEvent, DecodeError, type ChangeEvent, type DecodedEvent } from "./loader/events";
import { planBatch } from "./loader/plan";

export const deadLetterTopicOf = (prefix = TOPIC_PREFIX) => `${prefix}.cdc.dlq`;
export const REPROCESS_GROUP_ID = "atlas-cdc-reprocess";

const H = {
  reason: "atlas-reason",
  topic: "atlas-source-topic",
  partition: "atlas-source-partition",
  offset: "atlas-source-offset",
  failedAt: "atlas-failed-at",
  group: "atlas-consumer-group",
  attempts: "atlas-attempts",
} as const;
const OUR_HEADERS = new Set<string>(Object.values(H));

/** A reason may quote the offending value: keep headers small. */
const MAX_REASON = 1_000;

export interface DeadLetter {
  source: { topic: string; partition: number; offset: string };
  key: Buffer | null;
  value: Buffer | null;
  /** The original message's headers (ours left out). */
  headers: IHeaders;
  reason: string;
  /** Loads tried, this one included. */
  attempts: number;
}

const deadLettered = counter("atlas_cdc_dead_letters_total", "Change events sent to the CDC dead-letter topic, by source topic", ["topic"]);

export function deadLetterOf(topic: string, partition: number, m: KafkaMessage, reason: string): DeadLetter {
  return { source: { topic, partition, offset: m.offset }, key: m.key ?? null, value: m.value ?? null, headers: m.headers ?? {}, reason, attempts: 1 };
}

/** Why planBatch rejects this event on its own (a column of the wrong type), or null when it plans. */
export function planProblem(e: ChangeEvent): string | null {
  try {
    planBatch([e]);
    return null;
  } catch (err) {
    if (err instanceof DecodeError) return err.message;
    throw err;
  }
}

/**
 * Errors the data itself causes: SQLSTATE class 22 (data exception: a string
 * too long, a number out of range) and 23 (integrity) other than a unique-key race
 * between loaders, and Redshift's failed COPY (XX000 pointing at stl_load_errors).
 * Retrying the same micro-batch fails the same way forever, so the events
 * that cause them are found and dead-lettered instead.
 */
export function isDataError(err: unknown): boolean {
  const { code = "", message = "" } = err as { code?: string; message?: string };
  if (code === "23505") return false; // a race on a key between loaders: retried, not the data's fault
  return code.startsWith("22") || code.startsWith("23") || (code === "XX000" && /stl_load_errors/i.test(message));
}

/** decodeEvent plus the plan's column checks: everything the loader refuses, as a DecodeError. */
export function decodeForLoad(value: Buffer | null): DecodedEvent | null {
  const e = decodeEvent(value);
  const problem = e?.kind === "change" ? planProblem(e) : null;
  if (problem !== null) throw new DecodeError(problem);
  return e;
}

/** One partition (rare, ordered) and a month's retention, as the ingest DLQ (app/ingest/kafka.ts). */
async function ensureTopic(admin: Admin, topic: string): Promise<void> {
  if ((await admin.listTopics()).includes(topic)) return;
  const rf = Math.min(3, (await admin.describeCluster()).brokers.length);
  await admin
    .createTopics({
      topics: [{
        topic,
        numPartitions: TOPIC_PARTITIONS.dlq,
        replicationFactor: rf,
        configEntries: [
          ...(rf >= 3 ? [{ name: "min.insync.replicas", value: "2" }] : []),
          { name: "retention.ms", value: String(30 * 24 * 3600 * 1000) },
        ],
      }],
      waitForLeaders: true,
    })
    .catch((err: Error) => {
      // Another loader (or reprocess) creating it at the same moment is fine.
      if (!/already exists/i.test(err.message)) throw err;
    });
}

const text = (h: IHeaders, name: string): string | undefined => {
  const v = h[name];
  const first = Array.isArray(v) ? v[0] : v;
  return first === undefined ? undefined : first.toString();
};

/** A dead-letter record back as the letter; a record without our source headers (not written here) as its own source. */
function readRecord(topic: string, partition: number, m: KafkaMessage): DeadLetter {
  const h = m.headers ?? {};
  const srcTopic = text(h, H.topic);
  const srcPartition = text(h, H.partition);
  const srcOffset = text(h, H.offset);
  const headers = Object.fromEntries(Object.entries(h).filter(([k]) => !OUR_HEADERS.has(k)));
  const known = srcTopic !== undefined && srcPartition !== undefined && srcOffset !== undefined;
  return {
    source: known ? { topic: srcTopic, partition: Number(srcPartition), offset: srcOffset } : { topic, partition, offset: m.offset },
    key: m.key ?? null,
    value: m.value ?? null,
    headers,
    reason: text(h, H.reason) ?? "no atlas-reason header",
    attempts: Number(text(h, H.attempts) ?? 1),
  };
}

/** Writes dead letters to the topic (created when missing), acks=all. */
export class DeadLetterWriter {
  private readonly producer: Producer;

  constructor(private readonly kafka: Kafka, readonly topic: string, private readonly group: string) {
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  }

  async connect(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      await ensureTopic(admin, this.topic);
    } finally {
      await admin.disconnect();
    }
    await this.producer.connect();
  }

  async send(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const failedAt = new Date().toISOString();
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: letters.map((l) => ({
        key: l.key,
        value: l.value,
        headers: {
          ...l.headers,
          [H.reason]: l.reason.slice(0, MAX_REASON),
          [H.topic]: l.source.topic,
          [H.partition]: String(l.source.partition),
          [H.offset]: l.source.offset,
          [H.failedAt]: failedAt,
          [H.group]: this.group,
          [H.attempts]: String(l.attempts),
        },
      })),
    });
    for (const l of letters) {
      deadLettered.inc({ topic: l.source.topic });
      log.warn("cdc event sent to the dead-letter topic", { dlq: this.topic, ...l.source, attempts: l.attempts, reason: l.reason });
    }
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}

export interface ReprocessOptions {
  kafka: Kafka;
  warehouse: Pool;
  /** Defaults to atlas.cdc.dlq. */
  topic?: string;
  /** The group whose committed offset says what was reprocessed. Defaults to atlas-cdc-reprocess. */
  groupId?: string;
  /** Longest wait for the next records while some remain, ms. Defaults to 60 s. */
  idleTimeoutMs?: number;
}

export interface ReprocessResult {
  read: number;
  /** Change events that decode now, applied to the warehouse. */
  applied: number;
  /** Records of a source message already seen in this run (a loader's retry, another loader group). */
  duplicates: number;
  /** Records that decode to nothing to load (tombstones, heartbeats). */
  empty: number;
  /** Still undecodable, or still refused by the warehouse: re-queued at the end of the topic with their reason. */
  stillFailing: Array<DeadLetter["source"] & { reason: string; attempts: number }>;
}

/** Applies change events in a warehouse transaction, in commit order (the plan keeps the last change of a key). */
async function applyEvents(warehouse: Pool, events: ChangeEvent[], group: string): Promise<void> {
  if (events.length === 0) return;
  const ordered = [...events].sort((a, b) => a.lsn - b.lsn);
  // No watermarks: they describe a loader group's own source partitions.
  await withTransaction(warehouse, (client) => applyPlan(client, planBatch(ordered), group, []));
}

/**
 * Applies the letters' events; when the warehouse refuses the lot with a data
 * error, each on its own (a reprocess run is small and rare), and returns the
 * letters of those it still refuses, to re-queue with the reason.
 */
async function applyLetters(warehouse: Pool, items: Array<{ event: ChangeEvent; letter: DeadLetter }>, group: string): Promise<DeadLetter[]> {
  try {
    await applyEvents(warehouse, items.map((i) => i.event), group);
    return [];
  } catch (err) {
    if (!isDataError(err)) throw err;
  }
  const refused: DeadLetter[] = [];
  for (const { event, letter } of [...items].sort((a, b) => a.event.lsn - b.event.lsn)) {
    try {
      await applyEvents(warehouse, [event], group);
    } catch (err) {
      if (!isDataError(err)) throw err;
      refused.push({ ...letter, reason: `warehouse refused: ${(err as Error).message}`, attempts: letter.attempts + 1 });
    }
  }
  return refused;
}

/**
 * Per partition with records left for the group: the end offset as of now.
 * Re-queued records and letters written meanwhile are for the next run.
 */
async function endsToReach(kafka: Kafka, topic: string, groupId: string): Promise<Map<number, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const stops = new Map<number, bigint>();
    for (const end of ends) {
      const c = BigInt(committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? "-1");
      if (BigInt(end.high) > (c >= 0n ? c : BigInt(end.low))) stops.set(end.partition, BigInt(end.high));
    }
    return stops;
  } finally {
    await admin.disconnect();
  }
}

/** Sorts a batch of records into events that decode now and letters to re-queue; `seen` dedupes by source. */
function sortRecords(topic: string, partition: number, records: KafkaMessage[], seen: Set<string>, result: ReprocessResult) {
  const events: Array<{ event: ChangeEvent; letter: DeadLetter }> = [];
  const requeue: DeadLetter[] = [];
  for (const m of records) {
    result.read++;
    const letter = readRecord(topic, partition, m);
    const id = `${letter.source.topic}/${letter.source.partition}/${letter.source.offset}`;
    if (seen.has(id)) {
      result.duplicates++;
      continue;
    }
    seen.add(id);
    try {
      const e = decodeForLoad(letter.value);
      if (e?.kind === "change") events.push({ event: e, letter });
      else result.empty++;
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      requeue.push({ ...letter, reason: err.message, attempts: letter.attempts + 1 });
    }
  }
  return { events, requeue };
}

export async function reprocessDeadLetters(o: ReprocessOptions): Promise<ReprocessResult> {
  const topic = o.topic ?? deadLetterTopicOf();
  const groupId = o.groupId ?? REPROCESS_GROUP_ID;
  const idleMs = o.idleTimeoutMs ?? 60_000;
  const result: ReprocessResult = { read: 0, applied: 0, duplicates: 0, empty: 0, stillFailing: [] };
  const writer = new DeadLetterWriter(o.kafka, topic, groupId);
  const consumer = o.kafka.consumer({ groupId, sessionTimeout: 30_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 500, allowAutoTopicCreation: false });
  const seen = new Set<string>();
  let idle: NodeJS.Timeout | undefined;
  try {
    await writer.connect(); // creates the topic on a fresh stack: an empty topic is nothing to do, not an error
    const stops = await endsToReach(o.kafka, topic, groupId);
    if (stops.size === 0) return result;
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const touch = () => {
        clearTimeout(idle);
        idle = setTimeout(() => reject(new Error(`no dead letters arrived for ${idleMs} ms with ${stops.size} partition(s) left`)), idleMs);
      };
      touch();
      consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error));
      const eachBatch = async ({ batch, heartbeat }: EachBatchPayload) => {
        const stop = stops.get(batch.partition);
        if (stop === undefined) return;
        touch();
        const records = batch.messages.filter((m) => BigInt(m.offset) < stop);
        const { events, requeue } = sortRecords(topic, batch.partition, records, seen, result);
        const refused = await applyLetters(o.warehouse, events, groupId);
        result.applied += events.length - refused.length;
        requeue.push(...refused);
        // Before the commit passes the originals: a crash re-queues twice at worst (deduped next run).
        await writer.send(requeue);
        for (const l of requeue) result.stillFailing.push({ ...l.source, reason: l.reason, attempts: l.attempts });
        const next = records.length > 0 ? BigInt(records[records.length - 1].offset) + 1n : null;
        if (next !== null) await consumer.commitOffsets([{ topic, partition: batch.partition, offset: next.toString() }]);
        await heartbeat();
        if (records.length < batch.messages.length || (next !== null && next >= stop)) stops.delete(batch.partition);
        if (stops.size === 0) resolve();
      };
      consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch }).catch(reject);
    });
    return result;
  } finally {
    clearTimeout(idle);
    await consumer.disconnect().catch(() => undefined);
    await writer.disconnect().catch(() => undefined);
  }
}
