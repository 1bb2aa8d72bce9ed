/**
 * Continuous load for the query fault scenarios, and the audit that checks
 * every answer's freshness claim against what is known to have been written.
 *
 * The writer bumps a sequence number (`seq`, an int attribute) of a few
 * entities through the real write path (staging + stage_flush as
 * atlas_writer), then invalidates the cache with the batch writer's own
 * best-effort invalidation (app/ingest/writer/invalidate.ts), and notes when
 * each seq was acknowledged (after its commit and invalidation attempt).
 *
 * The truth check, per answer: it returned `seq = s` of an entity while
 * `s + 1` had been acknowledged at A before the request was sent at T. So
 * whatever served it had not seen a commit that happened before A: its view
 * is more than T − A seconds old, and X-Data-Lag-Seconds claims (an upper
 * bound of) that age, so it must be ≥ T − A. The primary claims 0, so it may
 * never miss an acknowledged write; a replica or a cached copy may, but only
 * by less than it says.
 */
import type { Pool } from "pg";
import type { Redis } from "ioredis";
import { invalidateTouched } from "../../../app/ingest/writer/invalidate";
import type { QueryApi, Tenant } from "../query/harness";
import { write } from "../query/harness";

export interface ReadRecord {
  entityId: number;
  sentAt: number;
  doneAt: number;
  status: number;
  seq: number | null;
  source: string | null;
  lag: number | null;
  consistency: string | null;
  cache: string | null;
  /** Headers and body `_metadata` agree. */
  metadataAgrees: boolean;
  error?: string;
}

export interface Violation {
  read: ReadRecord;
  /** Known lower bound of the true lag, seconds. */
  trueLagAtLeast: number;
}

/** Writes seq 1, 2, … to each entity in turn, every `periodMs`, until stopped. */
export class SeqWriter {
  /** entity → ack time (ms) of each seq, index = seq. */
  readonly acks = new Map<number, number[]>();
  invalidationFailures = 0;
  errors: string[] = [];
  private running = false;
  private loop: Promise<void> | null = null;
  private lastTs = 0;

  constructor(
    private readonly pool: Pool,
    private readonly tenant: Tenant,
    readonly entityIds: number[],
    private readonly redis: Redis | undefined,
    private readonly periodMs = 100,
  ) {
    for (const id of entityIds) this.acks.set(id, [0]);
  }

  /** Writes the next seq of one entity now; returns it once acknowledged. */
  async writeNext(entityId: number): Promise<number> {
    const acks = this.acks.get(entityId)!;
    const seq = acks.length;
    // Device time strictly increasing: the newest seq is the latest value.
    this.lastTs = Math.max(this.lastTs + 1, Date.now());
    await write(this.pool, this.tenant, [{ entityId, ts: new Date(this.lastTs), values: { seq } }]);
    if (this.redis && !(await invalidateTouched(this.redis, [{ tenantId: this.tenant.id, entityId: String(entityId) }], 60, 1))) {
      this.invalidationFailures++;
    }
    acks[seq] = Date.now();
    return seq;
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      for (let i = 0; this.running; i++) {
        const started = Date.now();
        try {
          await this.writeNext(this.entityIds[i % this.entityIds.length]);
        } catch (err) {
          this.errors.push((err as Error).message);
        }
        await new Promise((r) => setTimeout(r, Math.max(0, this.periodMs - (Date.now() - started))));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  get writes(): number {
    let n = 0;
    for (const a of this.acks.values()) n += a.length - 1;
    return n;
  }
}

/** `concurrency` loops of GET /v1/entities/{id} over the writer's entities, until stopped. */
export class Readers {
  readonly reads: ReadRecord[] = [];
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly api: QueryApi,
    private readonly tenant: Tenant,
    private readonly entityIds: number[],
    private readonly headers: Record<string, string> = {},
  ) {}

  async readOnce(entityId: number, headers = this.headers): Promise<ReadRecord> {
    const sentAt = Date.now();
    const rec: ReadRecord = {
      entityId, sentAt, doneAt: 0, status: 0, seq: null, source: null, lag: null, consistency: null, cache: null, metadataAgrees: false,
    };
    try {
      const res = await this.api.request("GET", `/v1/entities/${entityId}`, { tenant: this.tenant, headers });
      rec.status = res.status;
      rec.source = res.headers.get("x-data-source");
      rec.lag = res.headers.get("x-data-lag-seconds") === null ? null : Number(res.headers.get("x-data-lag-seconds"));
      rec.consistency = res.headers.get("x-consistency-level");
      rec.cache = res.headers.get("x-cache-status");
      rec.seq = res.body?.attributes?.seq?.value ?? null;
      const m = res.body?._metadata ?? {};
      rec.metadataAgrees = m.source === rec.source && m.lag_seconds === rec.lag && m.consistency === rec.consistency && m.cache_status === rec.cache;
      if (res.status !== 200) rec.error = JSON.stringify(res.body);
    } catch (err) {
      rec.error = (err as Error).message;
    }
    rec.doneAt = Date.now();
    this.reads.push(rec);
    return rec;
  }

  start(concurrency = 2): void {
    this.running = true;
    this.loops = Array.from({ length: concurrency }, async (_, k) => {
      for (let i = k; this.running; i++) {
        await this.readOnce(this.entityIds[i % this.entityIds.length]);
        await new Promise((r) => setTimeout(r, 5));
      }
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

/** Answers whose X-Data-Lag-Seconds is smaller than the lag they are known to have. */
export function underReported(reads: readonly ReadRecord[], writer: SeqWriter): Violation[] {
  const out: Violation[] = [];
  for (const r of reads) {
    if (r.status !== 200 || r.seq === null || r.lag === null) continue;
    const next = writer.acks.get(r.entityId)?.[r.seq + 1];
    if (next === undefined || next >= r.sentAt) continue;
    const trueLagAtLeast = (r.sentAt - next) / 1000;
    // The header is rounded to the millisecond.
    if (r.lag + 0.0005 < trueLagAtLeast) out.push({ read: r, trueLagAtLeast });
  }
  return out;
}

/** The largest known lower bound of the true lag among answers (seconds). */
export function maxKnownLag(reads: readonly ReadRecord[], writer: SeqWriter): number {
  let max = 0;
  for (const r of reads) {
    if (r.status !== 200 || r.seq === null) continue;
    const next = writer.acks.get(r.entityId)?.[r.seq + 1];
    if (next !== undefined && next < r.sentAt) max = Math.max(max, (r.sentAt - next) / 1000);
  }
  return max;
}

export function countBy(reads: readonly ReadRecord[], key: (r: ReadRecord) => string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of reads) {
    const k = key(r) ?? "none";
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

export const describeRead = (r: ReadRecord) =>
  `entity ${r.entityId} seq ${r.seq} from ${r.source} (cache ${r.cache}) claiming lag ${r.lag} s, status ${r.status}${r.error ? ` ${r.error}` : ""}`;
