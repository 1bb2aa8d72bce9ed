/**
 * The CDC loader: a kafkajs consumer group on the Debezium topics that loads
 * micro-batches into the warehouse, one transaction per micro-batch, and
 * commits Kafka offsets only after that transaction committed.
 *
 * Micro-batching: the broker itself gathers the batch. Each fetch waits up to
 * the window (maxWaitTimeInMs = CDC_BATCH_WINDOW_MS) for minBytes of data;
 * kafkajs hands the fetched partitions to eachBatch concurrently
 * (partitionsConsumedConcurrently) and fetches again only when all of them
 * returned. Each eachBatch call parks its messages here and waits; a flush a
 * few ms later loads everything parked in one warehouse transaction, commits
 * the offsets of every partition in it, then lets the calls return.
 * A crash anywhere before the offset commit replays the batch, and the
 * warehouse merge is idempotent (apply.ts): nothing lost, nothing doubled.
 *
 * A message that cannot be decoded or planned goes to the dead-letter topic
 * (../dead-letters.ts) in the flush, before the offset commit passes it; so
 * does an event the warehouse itself refuses (a data error: a value its
 * column cannot hold), found by bisecting the micro-batch (isolateRefused).
 * With `reconcile` set the loader also reconciles on a schedule
 * (../reconcile.ts).
 */
import type { Admin, Batch, Consumer, EachBatchPayload, KafkaMessage } from "kafkajs";
import { createKafka } from "../../ingest/kafka";
import { createPool, type Pool } from "../../shared/db";
import { counter, gauge, histogram } from "../../shared/http/metrics";
import { log } from "../../shared/log";
import { migrateWarehouse } from "../../../db/warehouse/migrate";
import { detectDialect, type Dialect } from "../../../db/warehouse/dialect";
import { copyStdinLoader } from "./staging/copy-stdin";
import { batchIdentity, type StageLoader } from "./staging/stage-loader";
import { CAPTURED_TABLES, heartbeatTopicOf, topicOf, TOPIC_PREFIX } from "../connector-config";
import { deadLetterOf, deadLetterTopicOf, DeadLetterWriter, isDataError, planProblem, type DeadLetter } from "../dead-letters";
import { scheduleReconcile, type ReconcileScheduleOptions } from "../reconcile";
import { readWarehouseLag } from "../watermark";
import { applyPlan, type ApplyCounts, type WatermarkUpdate } from "./apply";
import { ChangeEvent, decodeEvent, DecodeError } from "./events";
import { planBatch, type BatchPlan } from "./plan";

export const DEFAULT_GROUP_ID = "atlas-cdc-loader";

export interface LoaderOptions {
  brokers: string[];
  ssl?: boolean;
  warehouseUrl: string;
  /** Consumer group. Defaults to atlas-cdc-loader (tests use their own). */
  groupId?: string;
  /** Debezium topic.prefix. Defaults to atlas. */
  topicPrefix?: string;
  /** Longest a fetch waits to fill a micro-batch, ms. Defaults to 2000 (CDC_BATCH_WINDOW_MS). */
  batchWindowMs?: number;
  /** Bytes a fetch waits for before the window ends. Defaults to 1 MiB. */
  minBytes?: number;
  /** Read a new group's topics from the beginning (the Debezium snapshot is there). Defaults to true. */
  fromBeginning?: boolean;
  /** Apply db/warehouse migrations at start. Defaults to true. */
  migrate?: boolean;
  /** How staging tables are filled, given the warehouse's dialect (staging/from-config.ts). Defaults to COPY FROM STDIN. */
  stageLoader?: (dialect: Dialect) => StageLoader;
  /** Where undecodable messages go. Defaults to `<topicPrefix>.cdc.dlq`. */
  deadLetterTopic?: string;
  /** Reconcile against the primary on a schedule (atlas_reconcile_differences). Defaults to off. */
  reconcile?: ReconcileScheduleOptions;
  /** Called after each micro-batch committed (tests, bench). */
  onBatch?: (stats: BatchStats) => void;
}

export interface BatchStats {
  messages: number;
  counts: ApplyCounts;
  /** Per change event (not snapshot reads): warehouse commit time − primary commit time, seconds. */
  endToEndLagSeconds: number[];
  durationMs: number;
}

export interface Loader {
  stop(): Promise<void>;
  /** The warehouse pool (shared with in-process readers such as the analytics router). */
  warehouse: Pool;
}

const metrics = {
  batches: counter("atlas_cdc_batches_total", "Micro-batches committed to the warehouse"),
  events: counter("atlas_cdc_events_total", "Change events loaded, by table and op", ["table", "op"]),
  failures: counter("atlas_cdc_batch_failures_total", "Micro-batches whose warehouse transaction failed (retried)"),
  batchSeconds: histogram("atlas_cdc_batch_duration_seconds", "Warehouse transaction time per micro-batch", [], [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
  e2eSeconds: histogram(
    "atlas_cdc_end_to_end_lag_seconds",
    "Primary commit to warehouse commit, per change event",
    [],
    [0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300],
  ),
  warehouseLag: gauge("atlas_cdc_warehouse_lag_seconds", "Warehouse lag as analytics answers report it"),
};

interface Parked {
  batch: Batch;
  events: ChangeEvent[];
  /** The message of each event (same index): a dead letter carries the original. */
  sources: KafkaMessage[];
  deadLetters: DeadLetter[];
  heartbeatTsMs: number | null;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Errors worth retrying the same micro-batch for: another loader raced us on a key, or a deadlock. */
const RETRYABLE = new Set(["23505", "40001", "40P01"]);

/** One event of a flush and the parked batch it came from. */
interface Located {
  parked: Parked;
  index: number;
}

/**
 * Creates the Debezium topics when missing, with the partitions the connector
 * would give them (connector-config.ts), so the loader may start first: a
 * consumer cannot subscribe to a topic that does not exist.
 */
async function ensureSourceTopics(admin: Admin, topics: string[]): Promise<void> {
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length === 0) return;
    const rf = Math.min(3, (await admin.describeCluster()).brokers.length);
    await admin
      .createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 3, replicationFactor: rf })), waitForLeaders: true })
      .catch((err: Error) => {
        // Debezium or another loader creating them at the same moment is fine.
        if (!/already exists/i.test(err.message)) throw err;
      });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Plans the parked batches. A column the plan cannot read (DecodeError) would
 * fail every retry of the flush; then each event is planned on its own and
 * the ones that fail become dead letters. Only after a failure: planning
 * each event alone costs about as much again as the batch.
 */
function planParked(items: Parked[]): BatchPlan {
  try {
    return planBatch(items.flatMap((p) => p.events));
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
  }
  for (const p of items) {
    const events: ChangeEvent[] = [];
    const sources: KafkaMessage[] = [];
    p.events.forEach((e, i) => {
      const problem = planProblem(e);
      if (problem === null) {
        events.push(e);
        sources.push(p.sources[i]);
      } else {
        p.deadLetters.push(deadLetterOf(p.batch.topic, p.batch.partition, p.sources[i], `cannot plan: ${problem}`));
      }
    });
    p.events = events;
    p.sources = sources;
  }
  return planBatch(items.flatMap((p) => p.events));
}

export async function startLoader(opts: LoaderOptions): Promise<Loader> {
  const groupId = opts.groupId ?? DEFAULT_GROUP_ID;
  const prefix = opts.topicPrefix ?? TOPIC_PREFIX;
  const windowMs = opts.batchWindowMs ?? 2000;
  const heartbeatTopic = heartbeatTopicOf(prefix);
  const topics = [...CAPTURED_TABLES.map((t) => topicOf(t, prefix)), heartbeatTopic];

  const warehouse = createPool(opts.warehouseUrl, "cdc-warehouse", { max: 4, statementTimeoutMs: 120_000 });
  if (opts.migrate ?? true) {
    const applied = await migrateWarehouse(warehouse);
    if (applied.length > 0) log.info("warehouse migrated", { applied });
  }
  const stageLoader = opts.stageLoader ? opts.stageLoader(await detectDialect(warehouse)) : copyStdinLoader;

  const kafka = createKafka({ brokers: opts.brokers, ssl: opts.ssl, clientId: `atlas-cdc-loader-${process.pid}` });
  const deadLetters = new DeadLetterWriter(kafka, opts.deadLetterTopic ?? deadLetterTopicOf(prefix), groupId);
  const consumer: Consumer = kafka.consumer({
    groupId,
    maxWaitTimeInMs: windowMs,
    minBytes: opts.minBytes ?? 1024 * 1024,
    maxBytes: 64 * 1024 * 1024,
    maxBytesPerPartition: 16 * 1024 * 1024,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
  });

  let parked: Parked[] = [];
  let flushTimer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> = Promise.resolve();
  let stopped = false;

  /**
   * Applies `located`'s events in a transaction that is always rolled back:
   * the data error they cause, or null when the warehouse takes them.
   */
  let probes = 0;
  const probe = async (located: Located[]): Promise<Error | null> => {
    const batch = batchIdentity(`${groupId}.probe-${++probes}`, []);
    const client = await warehouse.connect();
    try {
      await client.query("BEGIN");
      await applyPlan(client, planBatch(located.map((l) => l.parked.events[l.index])), groupId, [], { loader: stageLoader, batch });
      return null;
    } catch (err) {
      if (isDataError(err)) return err as Error;
      throw err;
    } finally {
      await client.query("ROLLBACK").catch(() => undefined);
      client.release();
      await stageLoader.settle(batch);
    }
  };

  /**
   * The events of a micro-batch the warehouse refused (`failure`), found by
   * bisection (log2 of the batch's size in probes per refused event, only
   * after a failure), taken out of their parked batches and returned as dead
   * letters with the warehouse's reason. When no part fails alone, the
   * refusal comes from events together, which bisection cannot split: the
   * original error is thrown (the batch is retried, as any other failure).
   */
  const isolateRefused = async (items: Parked[], failure: Error): Promise<DeadLetter[]> => {
    const refused: { at: Located; reason: string }[] = [];
    const bisect = async (located: Located[], known: Error | null): Promise<void> => {
      const error = known ?? (await probe(located));
      if (error === null) return;
      if (located.length === 1) {
        refused.push({ at: located[0], reason: error.message });
        return;
      }
      const half = Math.ceil(located.length / 2);
      await bisect(located.slice(0, half), null);
      await bisect(located.slice(half), null);
    };
    await bisect(items.flatMap((parked) => parked.events.map((_, index) => ({ parked, index }))), failure);
    if (refused.length === 0) throw failure;
    const letters = refused.map(({ at, reason }) =>
      deadLetterOf(at.parked.batch.topic, at.parked.batch.partition, at.parked.sources[at.index], `warehouse refused: ${reason}`),
    );
    for (const p of items) {
      const drop = new Set(refused.filter((r) => r.at.parked === p).map((r) => r.at.index));
      if (drop.size === 0) continue;
      p.events = p.events.filter((_, i) => !drop.has(i));
      p.sources = p.sources.filter((_, i) => !drop.has(i));
    }
    return letters;
  };

  const flush = async (items: Parked[]): Promise<void> => {
    const started = Date.now();
    let plan = planParked(items);
    // Before the offsets pass them (at-least-once: a retry may write them again).
    await deadLetters.send(items.flatMap((p) => p.deadLetters));
    const events = items.flatMap((p) => p.events);
    const watermarks: WatermarkUpdate[] = items.map((p) => {
      let lastSourceTsMs = p.heartbeatTsMs;
      let lastLsn: number | null = null;
      for (const e of p.events) {
        if (lastSourceTsMs === null || e.sourceTsMs > lastSourceTsMs) lastSourceTsMs = e.sourceTsMs;
        if (lastLsn === null || e.lsn > lastLsn) lastLsn = e.lsn;
      }
      return {
        topic: p.batch.topic,
        partition: p.batch.partition,
        lastOffset: p.batch.lastOffset(),
        lastSourceTsMs,
        lastLsn,
        pending: Math.max(0, Number(p.batch.offsetLag())),
      };
    });
    let counts: ApplyCounts | undefined;
    // One identity for every attempt: a retry overwrites the S3 objects of the one before.
    const staging = { loader: stageLoader, batch: batchIdentity(groupId, watermarks) };
    for (let attempt = 1; ; attempt++) {
      const client = await warehouse.connect();
      try {
        await client.query("BEGIN");
        counts = await applyPlan(client, plan, groupId, watermarks, staging);
        await client.query("COMMIT");
        break;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        metrics.failures.inc();
        const code = (err as { code?: string }).code ?? "";
        if (isDataError(err) && attempt < 3) {
          const refused = await isolateRefused(items, err as Error);
          await deadLetters.send(refused);
          plan = planBatch(items.flatMap((p) => p.events));
          log.warn("warehouse refused events of a batch; dead-lettered them", { attempt, code, refused: refused.length });
          continue;
        }
        if (!RETRYABLE.has(code) || attempt >= 3) throw err;
        log.warn("warehouse batch conflict, retrying", { attempt, code });
      } finally {
        client.release();
      }
    }
    const committedAt = Date.now();
    await stageLoader.settle(staging.batch);
    // Offsets only now: the warehouse holds everything up to them.
    await consumer.commitOffsets(
      items.map((p) => ({ topic: p.batch.topic, partition: p.batch.partition, offset: (BigInt(p.batch.lastOffset()) + 1n).toString() })),
    );
    const lags = events.filter((e) => !e.snapshot && e.table !== "replication_heartbeat").map((e) => (committedAt - e.sourceTsMs) / 1000);
    for (const l of lags) metrics.e2eSeconds.observe(l);
    for (const e of events) metrics.events.inc({ table: e.table, op: e.op });
    metrics.batches.inc();
    metrics.batchSeconds.observe((committedAt - started) / 1000);
    const stats: BatchStats = { messages: items.reduce((n, p) => n + p.batch.messages.length, 0), counts: counts!, endToEndLagSeconds: lags, durationMs: committedAt - started };
    if (counts!.facts + counts!.factDeletes + counts!.states + counts!.dimensions > 0) {
      const sorted = [...lags].sort((a, b) => a - b);
      log.info("cdc batch loaded", {
        group: groupId, messages: stats.messages, ...counts, duration_ms: stats.durationMs,
        e2e_p50_s: sorted.length ? sorted[Math.floor(sorted.length / 2)] : null,
        e2e_max_s: sorted.length ? sorted[sorted.length - 1] : null,
      });
    }
    opts.onBatch?.(stats);
  };

  const scheduleFlush = () => {
    if (flushTimer) return;
    // A few ms: every partition of the same fetch parks within the same turn
    // of the event loop; this collects them into one transaction.
    flushTimer = setTimeout(() => {
      flushTimer = null;
      const items = parked;
      parked = [];
      flushing = flushing.then(() =>
        flush(items).then(
          () => items.forEach((p) => p.resolve()),
          (err: Error) => items.forEach((p) => p.reject(err)),
        ),
      );
    }, 5);
  };

  const eachBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload) => {
    if (!isRunning() || isStale() || batch.messages.length === 0) return;
    const events: ChangeEvent[] = [];
    const sources: KafkaMessage[] = [];
    const dead: DeadLetter[] = [];
    let heartbeatTsMs: number | null = null;
    for (const m of batch.messages) {
      try {
        const e = decodeEvent(m.value);
        if (e === null) continue;
        if (e.kind === "heartbeat") heartbeatTsMs = Math.max(heartbeatTsMs ?? 0, e.tsMs);
        else {
          events.push(e);
          sources.push(m);
        }
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        // Throwing would stop the pipeline on this message forever: it goes to
        // the dead-letter topic in the flush, for `reconcile --reprocess`.
        dead.push(deadLetterOf(batch.topic, batch.partition, m, err.message));
      }
    }
    // The debezium heartbeat's time is the connector's clock, not a commit:
    // it advances only its own partition's watermark (excluded from the lag).
    const parkedDone = new Promise<void>((resolve, reject) => {
      parked.push({ batch, events, sources, deadLetters: dead, heartbeatTsMs: batch.topic === heartbeatTopic ? heartbeatTsMs : null, resolve, reject });
    });
    scheduleFlush();
    const beat = setInterval(() => heartbeat().catch(() => undefined), 3_000);
    try {
      await parkedDone;
    } finally {
      clearInterval(beat);
    }
    resolveOffset(batch.lastOffset());
    await heartbeat();
  };

  await ensureSourceTopics(kafka.admin(), topics);
  await deadLetters.connect();
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: opts.fromBeginning ?? true });
  consumer.on(consumer.events.CRASH, (e) => {
    log.error("cdc consumer crashed", { error: e.payload.error, restart: e.payload.restart, group: groupId });
  });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 64,
    eachBatch,
  });

  const lagTimer = setInterval(() => {
    readWarehouseLag(warehouse, groupId)
      .then((lag) => {
        if (lag !== null) metrics.warehouseLag.set(lag);
      })
      .catch(() => undefined);
  }, 5_000);
  lagTimer.unref();
  const reconciler = opts.reconcile ? scheduleReconcile({ ...opts.reconcile, warehouse, group: groupId }) : null;

  log.info("cdc loader started", { group: groupId, topics, batch_window_ms: windowMs });
  return {
    warehouse,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(lagTimer);
      // consumer.stop waits for the running eachBatch calls, i.e. for the
      // pending flush: a stop never abandons a warehouse transaction half-way.
      await consumer.disconnect().catch((err) => log.warn("cdc consumer disconnect failed", { error: err }));
      await flushing.catch(() => undefined);
      await deadLetters.disconnect().catch((err) => log.warn("cdc dead-letter producer disconnect failed", { error: err }));
      // After the drain: a reconcile run in progress (it reads the warehouse) must not delay it.
      await reconciler?.stop();
      await warehouse.end();
      log.info("cdc loader stopped", { group: groupId });
    },
  };
}
