/**
 * Building and decoding the Kafka messages of the write path (format in
 * ./types.ts). One message per entity and lane per chunk, so an entity's
 * readings stay together and in order on one partition.
 */
import { DATA_TYPES, DataType, Lane, TelemetryMessage, TypedValue, ValidReading, messageKey } from "./types";

/** Readings per message at most: keeps a message well under Kafka's 1 MB default limit. */
export const MAX_READINGS_PER_MESSAGE = 500;

export interface OutgoingMessage {
  lane: Lane;
  key: string;
  message: TelemetryMessage;
  /** Values in the message (for metrics and the direct sink's accounting). */
  values: number;
}

export function toMessages(tenantId: string, receivedAt: Date, readings: readonly ValidReading[]): OutgoingMessage[] {
  const received = receivedAt.toISOString();
  const groups = new Map<string, OutgoingMessage>();
  const out: OutgoingMessage[] = [];
  for (const r of readings) {
    const groupKey = `${r.lane}:${r.entityId}`;
    let g = groups.get(groupKey);
    if (!g || g.message.readings.length >= MAX_READINGS_PER_MESSAGE) {
      g = {
        lane: r.lane,
        key: messageKey(tenantId, r.entityId),
        values: 0,
        message: {
          v: 1,
          tenant_id: tenantId,
          received_at: received,
          entity_id: r.entityId,
          entity_type: r.entityType,
          readings: [],
        },
      };
      groups.set(groupKey, g);
      out.push(g);
    }
    // One type per entity in a request (checked at accept): a reading that
    // names it types the message even when earlier ones did not.
    if (g.message.entity_type === null) g.message.entity_type = r.entityType;
    g.message.readings.push({ ts: new Date(r.tsMs).toISOString(), values: r.values });
    g.values += r.values.length;
  }
  return out;
}

export class PoisonMessageError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "PoisonMessageError";
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;
const INT64_MAX = 9223372036854775807n;

/** Decodes a message value; throws PoisonMessageError with the reason when it can never be stored. */
export function decodeMessage(value: Buffer | null): TelemetryMessage {
  if (!value || value.length === 0) throw new PoisonMessageError("empty message value");
  let m: TelemetryMessage;
  try {
    m = JSON.parse(value.toString("utf8")) as TelemetryMessage;
  } catch {
    throw new PoisonMessageError("message value is not JSON");
  }
  if (typeof m !== "object" || m === null) throw new PoisonMessageError("message value is not an object");
  if (m.v !== 1) throw new PoisonMessageError(`unsupported message version ${JSON.stringify(m.v)}`);
  if (typeof m.tenant_id !== "string" || !UUID.test(m.tenant_id)) throw new PoisonMessageError("tenant_id is not a uuid");
  if (typeof m.received_at !== "string" || !ISO.test(m.received_at)) throw new PoisonMessageError("received_at is not an ISO timestamp");
  const entityId = typeof m.entity_id === "number" ? String(m.entity_id) : m.entity_id;
  if (typeof entityId !== "string" || !/^[1-9][0-9]{0,18}$/.test(entityId) || BigInt(entityId) > INT64_MAX) {
    throw new PoisonMessageError("entity_id is not a positive 64-bit integer");
  }
  m.entity_id = entityId;
  m.entity_type ??= null; // messages of before entity_type was optional always have one
  if (m.entity_type !== null && (typeof m.entity_type !== "string" || m.entity_type.length === 0 || m.entity_type.length > 64)) {
    throw new PoisonMessageError("entity_type is neither null nor a string of 1..64 characters");
  }
  if (!Array.isArray(m.readings) || m.readings.length === 0) throw new PoisonMessageError("readings is empty or not an array");
  for (const r of m.readings) {
    if (typeof r !== "object" || r === null || typeof r.ts !== "string" || !ISO.test(r.ts)) {
      throw new PoisonMessageError("a reading has no valid ts");
    }
    if (!Array.isArray(r.values) || r.values.length === 0) throw new PoisonMessageError("a reading has no values");
    for (const pair of r.values) {
      if (!Array.isArray(pair) || pair.length !== 2 || !Number.isInteger(pair[0]) || pair[0] <= 0) {
        throw new PoisonMessageError("a value is not an [attribute_id, value] pair");
      }
    }
  }
  return m;
}

/** Checks a decoded value against its attribute's type (the API did; this guards the table's CHECK). */
export function valueFitsType(type: DataType, v: TypedValue): boolean {
  switch (type) {
    case "int":
      return (typeof v === "number" && Number.isSafeInteger(v)) || (typeof v === "string" && /^-?[0-9]{1,19}$/.test(v));
    case "decimal":
      return typeof v === "number" && Number.isFinite(v);
    case "bool":
      return typeof v === "boolean";
    case "string":
      return typeof v === "string" && !v.includes("\u0000");
    case "timestamp":
      return typeof v === "string" && ISO.test(v);
  }
}

export const isDataType = (t: unknown): t is DataType => (DATA_TYPES as readonly unknown[]).includes(t);
