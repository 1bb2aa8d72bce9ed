/**
 * Chooses the sink from the configuration: Kafka when KAFKA_BROKERS is set,
 * else direct mode (straight through the writer's storage step).
 */
import type { Redis } from "ioredis";
import type { AtlasConfig } from "../shared/config";
import type { Pool } from "../shared/db";
import { DirectSink } from "./direct-sink";
import { createKafka } from "./kafka";
import { KafkaSink } from "./kafka-sink";
import type { ReadingSink, TopicNames } from "./types";

export interface SinkOptions {
  redis?: Redis;
  topics?: TopicNames;
  sendTimeoutMs?: number;
}

export function createSink(config: AtlasConfig, pool: Pool, opts: SinkOptions = {}): ReadingSink {
  if (!config.KAFKA_BROKERS || config.KAFKA_BROKERS.length === 0) {
    return new DirectSink({ pool, redis: opts.redis, cacheTtlSeconds: config.CACHE_TTL_SECONDS });
  }
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, ssl: config.KAFKA_SSL, clientId: "atlas-ingest" });
  return new KafkaSink(kafka, { topics: opts.topics, sendTimeoutMs: opts.sendTimeoutMs });
}
