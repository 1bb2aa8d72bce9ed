/**
 * The Kafka client of the write path: one factory (so the API, the writer and
 * the tests configure kafkajs alike), kafkajs logs routed into our JSON log,
 * and topic creation at start.
 */
import { Kafka, logLevel, type Admin, type LogEntry } from "kafkajs";
import { log } from "../shared/log";
import type { TopicNames } from "./types";

export interface KafkaClientOptions {
  brokers: string[];
  ssl?: boolean;
  clientId: string;
}

const levels: Record<number, "error" | "warn" | "info" | "debug"> = {
  [logLevel.ERROR]: "error",
  [logLevel.WARN]: "warn",
  [logLevel.INFO]: "info",
  [logLevel.DEBUG]: "debug",
};

// kafkajs warns about this once per idempotent producer with bounded retries:
// we bound them on purpose (see kafka-sink.ts) and make retries safe with the
// history table's primary key, so the warning is noise.
const QUIET = /Limiting retries for the idempotent producer/;

export function createKafka(opts: KafkaClientOptions): Kafka {
  return new Kafka({
    clientId: opts.clientId,
    brokers: opts.brokers,
    ssl: opts.ssl ?? false,
    connectionTimeout: 1_000,
    requestTimeout: 10_000,
    // A down broker must surface as an error within a few seconds (the API
    // answers 503), not after kafkajs' default ~30 s of retries.
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log: entry }: LogEntry) => {
        const { message, timestamp: _t, logger: _l, ...fields } = entry as LogEntry["log"] & { logger?: string };
        if (QUIET.test(message)) return;
        // Connection errors repeat on every retry while a broker is down; they are debug noise at warn level.
        const lvl = levels[level] === "error" && /Connection error|ECONNREFUSED|ETIMEDOUT/.test(message) ? "warn" : levels[level];
        log[lvl ?? "info"](`kafka: ${message}`, { kafka_namespace: namespace, ...fields });
      },
  });
}

/** Partitions per topic: live carries most traffic; backfill is a smaller lane; the DLQ is rare and ordered. */
export const TOPIC_PARTITIONS = { live: 12, backfill: 6, dlq: 1 } as const;

/**
 * Creates the write path's topics when missing (idempotent). Replication
 * factor: the broker count capped at 3 (1 on the local single broker, 3 on
 * MSK), with min.insync.replicas 2 where RF is 3 so acks=all means two copies.
 */
export async function ensureTopics(admin: Admin, topics: TopicNames): Promise<void> {
  const cluster = await admin.describeCluster();
  const rf = Math.min(3, cluster.brokers.length);
  const existing = new Set(await admin.listTopics());
  const wanted = (["live", "backfill", "dlq"] as const)
    .filter((lane) => !existing.has(topics[lane]))
    .map((lane) => ({
      topic: topics[lane],
      numPartitions: TOPIC_PARTITIONS[lane],
      replicationFactor: rf,
      configEntries: [
        ...(rf >= 3 ? [{ name: "min.insync.replicas", value: "2" }] : []),
        // The DLQ keeps what could not be stored for a month, for inspection and replay.
        ...(lane === "dlq" ? [{ name: "retention.ms", value: String(30 * 24 * 3600 * 1000) }] : []),
      ],
    }));
  if (wanted.length === 0) return;
  try {
    await admin.createTopics({ topics: wanted, waitForLeaders: true });
    log.info("created kafka topics", { topics: wanted.map((t) => t.topic), replication_factor: rf });
  } catch (err) {
    // Another process creating the same topics at the same time is fine.
    if (!/already exists/i.test((err as Error).message)) throw err;
  }
}
