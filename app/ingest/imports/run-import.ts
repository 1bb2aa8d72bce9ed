/**
 * The import use-case: rows from a RowSource → the ingest validation →
 * paced by the backfill quota as they are read → chunks of valid readings →
 * stored, one transaction per chunk, through the writer's storage step
 * (storeBatch: COPY into staging + stage_flush) → cache invalidated → job
 * progress. The import shares its process with live ingest: it works in
 * short stretches with turns of the event loop between them (turns.ts).
 *
 * Memory is bounded by two chunks: the one being filled while the previous
 * one is stored (never more in flight, so commits stay in upload order).
 * A chunk commits whole or not at all, and history's primary key makes a
 * replayed reading a no-op: after a failure, re-uploading the whole file
 * stores each reading once. `accepted` counts valid rows committed, replays
 * included.
 */
import type { Redis } from "ioredis";
import type { Pool } from "../../shared/db";
import { counter } from "../../shared/http/metrics";
import { log } from "../../shared/log";
import type { TenantSettings } from "../../shared/tenant-settings";
import { reportProgress } from "../../lifecycle/jobs";
import type { AcceptLimits } from "../accept";
import { toMessages } from "../messages";
import type { AttributeRegistry } from "../registry";
import type { TelemetryMessage, ValidReading } from "../types";
import { invalidateTouched } from "../writer/invalidate";
import { recordStored } from "../writer/metrics";
import { storeBatch } from "../writer/store-batch";
import { takeBackfill, type BackfillQuota } from "./pace";
import { RejectionLog } from "./rejections";
import type { RowSource } from "./rows";
import { Turns } from "./turns";
import { RowValidator } from "./validate-row";

/**
 * Readings encoded for COPY between turns: the chunk's messages go to the
 * storage step a slice at a time (storeBatch takes an async source), since
 * encoding a whole 2,000-reading chunk at once was a stretch of its own.
 */
const READINGS_PER_SLICE = 250;

/**
 * Valid readings charged to the backfill quota at a time, as they are read.
 * Charged per chunk instead, the import read and validated a whole chunk
 * back to back (2,000 rows, ~40 ms of work in slices) and then waited for
 * the quota: live requests arriving in that stretch waited behind a slice at
 * every step. In small steps the same work is spread evenly over the second.
 */
const PACE_READINGS = 250;

/**
 * The job's heartbeat, at least this often while the import runs (waiting
 * for the client, pacing at a low quota, or reading only bad rows commits
 * nothing for a while): the job runner fails imports whose heartbeat is
 * older than 5 minutes (their uploading task is gone).
 */
const HEARTBEAT_MS = 30_000;

const importRows = counter("atlas_import_rows_total", "Rows of imports by outcome (accepted: committed)", ["outcome"]);
const pacedSeconds = counter("atlas_import_paced_seconds_total", "Time imports waited for the backfill quota");

export interface ImportDeps {
  pool: Pool;
  registry: AttributeRegistry;
  /** The cache to invalidate after each commit, when there is one. */
  redis?: Redis;
  cacheTtlSeconds: number;
  quota: BackfillQuota;
  limits: AcceptLimits;
  /**
   * Valid readings per transaction. Defaults to 2,000: short transactions
   * leave the database to live writes in between (measured on 2 cores at the
   * 10,000/s quota, live ingest in direct mode: live p99 during an import
   * ~100-260 ms with 5,000, ~60-100 ms with 2,000 or 1,000, and no throughput
   * lost; in Kafka mode 1,000 and 2,000 measure the same, 500 loses half the
   * throughput to per-transaction cost).
   */
  chunkReadings?: number;
}

export type ImportProgress = {
  rows_read: number;
  accepted: number;
  rejected: number;
  bytes: number;
};

export interface ImportOutcome {
  progress: ImportProgress;
  /** The job's result: counts, the listed rejections, and how many were not listed. */
  result: Record<string, unknown>;
}

/** A chunk could not be stored (the database, typically): what was committed before stays. */
export class StorageFailed extends Error {
  constructor(override readonly cause: unknown) {
    super(`storing a chunk failed: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = "StorageFailed";
  }
}

/** The import stopped before the end of its body; `outcome` says what it had done. */
export class ImportStopped extends Error {
  constructor(override readonly cause: unknown, readonly outcome: ImportOutcome) {
    super((cause as Error)?.message ?? String(cause));
    this.name = "ImportStopped";
  }
}

export interface ImportTarget {
  tenantId: string;
  jobId: string;
  settings: TenantSettings;
}

/** Runs the import of `source`; resolves with its outcome, or rejects with ImportStopped (only). */
export async function runImport(deps: ImportDeps, target: ImportTarget, source: RowSource, bytes: () => number): Promise<ImportOutcome> {
  const { pool, registry } = deps;
  const { tenantId, jobId } = target;
  const chunkReadings = deps.chunkReadings ?? 2_000;
  const validator = new RowValidator(registry, tenantId, target.settings, deps.limits);
  const rejections = new RejectionLog();
  let rowsRead = 0;
  let accepted = 0;
  const progress = (): ImportProgress => ({ rows_read: rowsRead, accepted, rejected: rejections.rows, bytes: bytes() });
  const outcome = (): ImportOutcome => ({
    progress: progress(),
    result: {
      ...progress(),
      rejections: rejections.listed,
      ...(rejections.omitted > 0 ? { truncated_rejections: rejections.omitted } : {}),
    },
  });

  let reportedAt = Date.now();
  const report = async (): Promise<void> => {
    reportedAt = Date.now();
    await reportProgress(pool, tenantId, jobId, progress());
  };
  // Between commits: a stale heartbeat would have the job runner fail a live import.
  const heartbeat = setInterval(() => {
    if (Date.now() - reportedAt < HEARTBEAT_MS) return;
    report().catch((err) => log.warn("import heartbeat failed", { tenant_id: tenantId, job_id: jobId, error: err }));
  }, HEARTBEAT_MS / 3);
  heartbeat.unref();

  const turns = new Turns();
  let unpaced = 0;
  const pace = async (): Promise<void> => {
    const readings = unpaced;
    unpaced = 0;
    if (readings > 0) pacedSeconds.inc((await takeBackfill(deps.quota, tenantId, readings)) / 1000);
  };
  const store = async (chunk: ValidReading[]): Promise<void> => {
    try {
      const started = process.hrtime.bigint();
      const stored = await storeBatch(pool, messageSlices(turns, tenantId, new Date(), chunk), (t, id) => registry.typeOf(t, id));
      recordStored(stored.values, chunk.length, started, "direct");
      if (deps.redis) await invalidateTouched(deps.redis, stored.touched, deps.cacheTtlSeconds);
      accepted += chunk.length;
      importRows.inc({ outcome: "accepted" }, chunk.length);
      await report();
    } catch (err) {
      throw new StorageFailed(err);
    }
  };
  let pending: ValidReading[] = [];
  let storing: Promise<void> = Promise.resolve();
  const flush = async (): Promise<void> => {
    await pace();
    await storing; // at most one chunk in flight
    const chunk = pending;
    pending = [];
    if (chunk.length === 0) return;
    storing = store(chunk);
    storing.catch(() => undefined); // observed at the next flush or the end, not as an unhandled rejection
  };

  try {
    await validator.load();
    for await (const batch of source.batches) {
      for (const row of batch) {
        if (turns.due) await turns.give();
        rowsRead++;
        if ("problems" in row) {
          rejections.add(row.at, row.problems);
          continue;
        }
        let checked = validator.check(row.reading);
        if (checked instanceof Promise) checked = await checked;
        if (!checked.ok) {
          rejections.add(row.at, checked.errors.map((e) => ({ field: source.fieldName(e.field), reason: e.reason })));
          continue;
        }
        pending.push(checked.reading);
        if (++unpaced >= PACE_READINGS) await pace();
        if (pending.length >= chunkReadings) {
          await flush();
          validator.tick();
        }
      }
    }
    await flush();
    await storing;
  } catch (err) {
    // The body failed (syntax, cut off): the valid rows read before it are still stored.
    if (!(err instanceof StorageFailed)) {
      try {
        await flush();
        await storing;
      } catch (storeErr) {
        throw new ImportStopped(storeErr, outcome());
      }
    }
    throw new ImportStopped(err, outcome());
  } finally {
    clearInterval(heartbeat);
    importRows.inc({ outcome: "rejected" }, rejections.rows);
  }
  return outcome();
}

/** A chunk's messages for the storage step, READINGS_PER_SLICE readings at a time, with turns between. */
async function* messageSlices(turns: Turns, tenantId: string, receivedAt: Date, chunk: readonly ValidReading[]): AsyncGenerator<TelemetryMessage[]> {
  for (let at = 0; at < chunk.length; at += READINGS_PER_SLICE) {
    if (turns.due) await turns.give();
    yield toMessages(tenantId, receivedAt, chunk.slice(at, at + READINGS_PER_SLICE)).map((m) => m.message);
  }
}
