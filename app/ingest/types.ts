/**
 * The types the ingest API, the Kafka topics and the batch writer share.
 *
 * The wire format of a Kafka message (one entity, one lane, readings in the
 * order they were received) is the brief's:
 *   key   `${tenant_id}:${entity_id}`
 *   value {"v":1,"tenant_id":…,"received_at":iso,"entity_id":"123","entity_type":…,
 *          "readings":[{"ts":iso,"values":[[attribute_id, value], …]}]}
 * `entity_id` travels as a decimal string: ids go up to 2^63-1, beyond what a
 * JSON number survives in JavaScript. Values are already validated and typed:
 * int as a JSON number when it is a safe integer, else a decimal string;
 * decimal a finite number; bool; string; timestamp an ISO-8601 UTC string.
 */

export const DATA_TYPES = ["int", "decimal", "bool", "string", "timestamp"] as const;
export type DataType = (typeof DATA_TYPES)[number];

/** A validated value, typed by its attribute (see the file comment). */
export type TypedValue = number | string | boolean;

export type Lane = "live" | "backfill";

/** One validated reading, compact: what the API spools while it validates a request. */
export interface ValidReading {
  /** Decimal string, 1..2^63-1. */
  entityId: string;
  /** null: the reading names no type (the entity keeps, or later gets, the one a reading names). */
  entityType: string | null;
  /** Device time, epoch ms. */
  tsMs: number;
  lane: Lane;
  values: Array<[attributeId: number, value: TypedValue]>;
}

/** The value of a Kafka message, and what the storage step stores. */
export interface TelemetryMessage {
  v: 1;
  tenant_id: string;
  received_at: string;
  entity_id: string;
  /** null when no reading of the message names one. */
  entity_type: string | null;
  readings: Array<{ ts: string; values: Array<[number, TypedValue]> }>;
}

/** The readings of one accepted request, handed to a sink in chunks (bounded memory). */
export interface ReadingBatch {
  receivedAt: Date;
  /** Number of readings in the batch. */
  readings: number;
  /** Number of values (attribute, value pairs) in the batch. */
  values: number;
  /** The readings, a chunk at a time, in request order. May be iterated once. */
  chunks(): AsyncIterable<ValidReading[]>;
}

/** Where accepted readings go: the Kafka publisher, or the direct sink (straight into PostgreSQL). */
export interface ReadingSink {
  readonly kind: "kafka" | "direct";
  /**
   * Resolves once the whole batch is durable (acked by every in-sync replica,
   * or committed). Rejects with an AppError 503 when the dependency is down.
   */
  publish(tenantId: string, batch: ReadingBatch): Promise<void>;
  /** Readiness probe: resolves when the sink can accept now. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** Topic names; configurable so tests can run on their own topics. */
export interface TopicNames {
  live: string;
  backfill: string;
  dlq: string;
}

export const DEFAULT_TOPICS: TopicNames = {
  live: "atlas.telemetry.live",
  backfill: "atlas.telemetry.backfill",
  dlq: "atlas.telemetry.dlq",
};

export const WRITER_GROUP_ID = "atlas-batch-writer";

export const messageKey = (tenantId: string, entityId: string) => `${tenantId}:${entityId}`;
