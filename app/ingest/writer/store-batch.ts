/**
 * The storage step of the write path, shared by the batch writer (Kafka) and
 * the direct sink (no Kafka): in ONE transaction, as atlas_writer, COPY the
 * batch's values into the UNLOGGED staging table under one batch_id,
 * `atlas_webhook_capture(batch_id)` enqueues the webhook events of the
 * changes, then `stage_flush(batch_id)` moves them into history and the projection. Either
 * all of it commits or nothing does; a replay of the same readings is a
 * no-op (history's primary key + ON CONFLICT DO NOTHING in stage_flush).
 *
 * No `synchronous_commit = off` (the seeds had it): the writer commits Kafka
 * offsets right after this COMMIT returns, so the COMMIT must be durable, or
 * a PostgreSQL crash could lose readings whose offsets are already committed.
 */
import { randomUUID } from "crypto";
import { Readable } from "stream";
import { pipeline } from "stream/promises";
import { from as copyFrom } from "pg-copy-streams";
import { WRITER_ROLE, type Pool } from "../../shared/db";
import { PoisonMessageError } from "../messages";
import type { DataType, TelemetryMessage, TypedValue } from "../types";
import { BinaryCopyWriter } from "./copy-binary";
import { stepSeconds } from "./metrics";

export type TypeLookup = (tenantId: string, attributeId: number) => DataType | undefined;

export interface StoreResult {
  /** Values (history rows) copied into staging. */
  values: number;
  /** Entities whose projection changed: what the cache must invalidate. */
  touched: Array<{ tenantId: string; entityId: string }>;
}

// Binary, not text: the server does not parse uuids, timestamps and numbers
// (copy-binary.ts has the measurement).
const COPY_SQL =
  "COPY entity_values_staging (batch_id, tenant_id, entity_id, entity_type, attribute_id, ts, received_at, " +
  "value_int, value_decimal, value_bool, value_string, value_ts) FROM STDIN WITH (FORMAT binary)";
const STAGING_COLUMNS = 12;

/** PostgreSQL COPY text format (the benchmark's baselines write it): backslash, tab, newline and CR are escaped; NULL is \N. */
export function copyEscape(s: string): string {
  return /[\\\t\n\r]/.test(s)
    ? s.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"))
    : s;
}

/** The five typed value columns of one value, COPY text-encoded (the benchmark's baselines). */
export function valueColumns(type: DataType, v: TypedValue): string {
  switch (type) {
    case "int":
      return `${v}\t\\N\t\\N\t\\N\t\\N`;
    case "decimal":
      return `\\N\t${v}\t\\N\t\\N\t\\N`;
    case "bool":
      return `\\N\t\\N\t${v ? "t" : "f"}\t\\N\t\\N`;
    case "string":
      return `\\N\t\\N\t\\N\t${copyEscape(v as string)}\t\\N`;
    case "timestamp":
      return `\\N\t\\N\t\\N\t\\N\t${v}`;
  }
}

type Source = AsyncIterable<TelemetryMessage[]> | Iterable<TelemetryMessage[]>;

/** Streams all messages as binary COPY rows in ~64 KiB chunks (never the whole batch as one buffer). */
async function* copyRows(batchId: string, source: Source, typeOf: TypeLookup, counter: { values: number; tenants: Set<string> }) {
  const out = new BinaryCopyWriter();
  const batch = BinaryCopyWriter.fields((w) => w.uuid(batchId));
  for await (const messages of source) {
    for (const m of messages) {
      counter.tenants.add(m.tenant_id);
      // The columns a message's rows share are encoded once per message (ts once per reading).
      const entity = BinaryCopyWriter.fields((w) => {
        w.uuid(m.tenant_id).int8(m.entity_id);
        return m.entity_type === null ? w.null() : w.text(m.entity_type);
      });
      const received = BinaryCopyWriter.fields((w) => w.timestamptz(m.received_at));
      for (const r of m.readings) {
        const ts = BinaryCopyWriter.fields((w) => w.timestamptz(r.ts));
        for (const [attributeId, value] of r.values) {
          const type = typeOf(m.tenant_id, attributeId);
          if (!type) throw new PoisonMessageError(`attribute id ${attributeId} is unknown to tenant ${m.tenant_id}`);
          out.row(STAGING_COLUMNS).raw(batch).raw(entity).int4(attributeId).raw(ts).raw(received);
          typedValue(out, type, value);
          counter.values++;
          if (out.full) yield out.take();
        }
      }
    }
  }
  out.end();
  yield out.take();
}

/** The five typed value columns of one value, exactly one filled. */
function typedValue(out: BinaryCopyWriter, type: DataType, v: TypedValue): void {
  if (type === "int") out.int8(v as number | string);
  else out.null();
  if (type === "decimal") out.float8(v as number);
  else out.null();
  if (type === "bool") out.bool(v as boolean);
  else out.null();
  if (type === "string") out.text(v as string);
  else out.null();
  if (type === "timestamp") out.timestamptz(v as string);
  else out.null();
}

/**
 * Stores messages in one transaction and returns what it touched. `source`
 * may be an async iterable of chunks (the direct sink streams a request's
 * readings through it without materialising them all).
 */
export async function storeBatch(pool: Pool, source: Source, typeOf: TypeLookup): Promise<StoreResult> {
  const batchId = randomUUID();
  const counter = { values: 0, tenants: new Set<string>() };
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query("BEGIN");
    try {
      // stage_flush sorts the batch several times (per entity, per attribute):
      // keep those sorts in memory rather than spilling to disk at the 4 MB default
      // (measured: a 20k-value batch spilled ~3 MB per sort; flush time fell ~2.5×).
      await client.query(`SET LOCAL ROLE ${WRITER_ROLE}; SET LOCAL work_mem = '32MB'`);
      let end = stepSeconds.startTimer({ step: "copy" });
      await pipeline(Readable.from(copyRows(batchId, source, typeOf, counter)), client.query(copyFrom(COPY_SQL)));
      end();
      // Webhook events of the batch, in this transaction (the outbox,
      // app/webhooks/README.md): before stage_flush, while entity_latest still
      // holds the old values. One index probe when none of the batch's tenants has an endpoint.
      end = stepSeconds.startTimer({ step: "webhooks" });
      await client.query("SELECT atlas_webhook_capture($1, $2::uuid[])", [batchId, [...counter.tenants]]);
      end();
      end = stepSeconds.startTimer({ step: "flush" });
      const flushed = await client.query<{ tenant_id: string; entity_id: string }>(
        "SELECT tenant_id, entity_id FROM stage_flush($1)",
        [batchId],
      );
      end();
      end = stepSeconds.startTimer({ step: "commit" });
      await client.query("COMMIT");
      end();
      return {
        values: counter.values,
        touched: flushed.rows.map((r) => ({ tenantId: r.tenant_id, entityId: String(r.entity_id) })),
      };
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {
        broken = true;
      });
      throw err;
    }
  } finally {
    // A client whose COPY was aborted half-way may be unusable: do not pool it.
    client.release(broken || undefined);
  }
}

/**
 * SQLSTATEs that mean "this data can never be stored" (as opposed to "the
 * database is unavailable, try again"): data exceptions (22), integrity
 * violations (23), and stage_flush's own AT002/AT003.
 */
export function isDataError(err: unknown): boolean {
  if (err instanceof PoisonMessageError) return true;
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && (code.startsWith("22") || code.startsWith("23") || code === "AT002" || code === "AT003");
}
