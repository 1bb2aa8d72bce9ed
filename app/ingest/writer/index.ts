/** Builds the batch writer from the configuration (used by writer-main.ts and app/main.ts). */
import type { Redis } from "ioredis";
import { requireSetting, type AtlasConfig } from "../../shared/config";
import type { Pool } from "../../shared/db";
import { createKafka } from "../kafka";
import { DEFAULT_TOPICS, WRITER_GROUP_ID, type TopicNames } from "../types";
import { BatchWriter, type BatchWriterOptions } from "./batch-writer";

export { BatchWriter } from "./batch-writer";

/**
 * `suffix` is appended to the topic names and the group id (isolated runs:
 * tests; defaults to none, i.e. the contract's names).
 */
export function topicNames(suffix = ""): TopicNames {
  return {
    live: DEFAULT_TOPICS.live + suffix,
    backfill: DEFAULT_TOPICS.backfill + suffix,
    dlq: DEFAULT_TOPICS.dlq + suffix,
  };
}

export function createBatchWriter(
  config: AtlasConfig,
  pool: Pool,
  redis?: Redis,
  opts: Partial<BatchWriterOptions> & { suffix?: string } = {},
): BatchWriter {
  const kafka = createKafka({
    brokers: requireSetting(config, "KAFKA_BROKERS"),
    ssl: config.KAFKA_SSL,
    clientId: "atlas-batch-writer",
  });
  return new BatchWriter({
    kafka,
    pool,
    redis,
    cacheTtlSeconds: config.CACHE_TTL_SECONDS,
    topics: topicNames(opts.suffix),
    groupId: WRITER_GROUP_ID + (opts.suffix ?? ""),
    ...opts,
  });
}
