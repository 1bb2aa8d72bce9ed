/**
 * The Kafka publisher: accepted readings go to the live or backfill topic,
 * keyed `${tenant}:${entity}` (the default partitioner hashes the key, so an
 * entity's readings stay in order on one partition), with acks=all on an
 * idempotent producer.
 *
 * Failure policy: a send that fails or takes longer than `sendTimeoutMs`
 * makes publish() reject with 503 + Retry-After, and the producer is
 * replaced (a fresh producer id resets kafkajs' sequence numbers, which a
 * failed send can leave out of step with the broker). A request published in
 * several chunks that fails half-way may have stored some chunks; the client
 * retries the request and the history's primary key stores each reading once
 * (this needs `ts` set by the client: a defaulted `ts` is the arrival time).
 */
import { CompressionTypes, Partitioners, type Kafka, type Message, type Producer } from "kafkajs";
import { unavailable } from "../shared/http/errors";
import { counter, histogram } from "../shared/http/metrics";
import { log } from "../shared/log";
import { toMessages } from "./messages";
import { DEFAULT_TOPICS, type ReadingBatch, type ReadingSink, type TopicNames } from "./types";

export interface KafkaSinkOptions {
  topics?: TopicNames;
  /** Longest wait for a broker ack before answering 503, ms. Defaults to 5 s. */
  sendTimeoutMs?: number;
}

const published = counter("atlas_ingest_published_messages_total", "Kafka messages acked by the broker", ["lane"]);
const sendFailures = counter("atlas_ingest_publish_failures_total", "Kafka sends that failed or timed out");
const sendSeconds = histogram(
  "atlas_ingest_publish_seconds",
  "Time from send to broker ack (acks=all), per chunk",
  [],
  [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
);

class SendTimeout extends Error {}

export class KafkaSink implements ReadingSink {
  readonly kind = "kafka" as const;
  private producer: Producer | undefined;
  private connecting: Promise<Producer> | undefined;
  private readonly topics: TopicNames;
  private readonly sendTimeoutMs: number;
  private closed = false;

  constructor(private readonly kafka: Kafka, opts: KafkaSinkOptions = {}) {
    this.topics = opts.topics ?? DEFAULT_TOPICS;
    this.sendTimeoutMs = opts.sendTimeoutMs ?? 5_000;
  }

  /** Connects the producer (the API's readiness waits for this). */
  async connect(): Promise<void> {
    await this.getProducer();
  }

  private getProducer(): Promise<Producer> {
    if (this.producer) return Promise.resolve(this.producer);
    if (this.connecting) return this.connecting;
    const producer = this.kafka.producer({
      idempotent: true,
      // kafkajs serialises idempotent produce requests per broker anyway; ≤5 keeps ordering guarantees.
      maxInFlightRequests: 5,
      allowAutoTopicCreation: false,
      // murmur2 of the key, as the Java client: `${tenant}:${entity}` always maps to the same partition.
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 },
    });
    this.connecting = withTimeout(producer.connect(), this.sendTimeoutMs)
      .then(() => {
        this.producer = producer;
        return producer;
      })
      .catch((err) => {
        producer.disconnect().catch(() => undefined);
        throw err;
      })
      .finally(() => {
        this.connecting = undefined;
      });
    return this.connecting;
  }

  private discard(producer: Producer): void {
    if (this.producer === producer) this.producer = undefined;
    producer.disconnect().catch(() => undefined);
  }

  async publish(tenantId: string, batch: ReadingBatch): Promise<void> {
    if (this.closed) throw unavailable("kafka", 5);
    let producer: Producer;
    try {
      producer = await this.getProducer();
    } catch (err) {
      sendFailures.inc();
      log.warn("kafka producer cannot connect", { error: err });
      throw unavailable("kafka", 5);
    }
    for await (const chunk of batch.chunks()) {
      const messages = toMessages(tenantId, batch.receivedAt, chunk);
      const byTopic = new Map<string, Message[]>();
      for (const m of messages) {
        const topic = this.topics[m.lane];
        const list = byTopic.get(topic) ?? [];
        list.push({ key: m.key, value: JSON.stringify(m.message) });
        byTopic.set(topic, list);
      }
      const end = sendSeconds.startTimer();
      try {
        await withTimeout(
          producer.sendBatch({
            topicMessages: [...byTopic].map(([topic, msgs]) => ({ topic, messages: msgs })),
            acks: -1,
            timeout: this.sendTimeoutMs,
            // Measured: GZIP costs more CPU than it saves on a local broker (README); MSK in-VPC likewise.
            compression: CompressionTypes.None,
          }),
          this.sendTimeoutMs,
        );
      } catch (err) {
        sendFailures.inc();
        log.warn("kafka send failed; answering 503", { tenant_id: tenantId, error: err, timed_out: err instanceof SendTimeout });
        this.discard(producer);
        throw unavailable("kafka", 5);
      }
      end();
      for (const m of messages) published.inc({ lane: m.lane });
    }
  }

  async ready(): Promise<void> {
    await this.getProducer();
  }

  async close(): Promise<void> {
    this.closed = true;
    const p = this.producer;
    this.producer = undefined;
    if (p) await p.disconnect();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SendTimeout(`no answer from kafka within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
