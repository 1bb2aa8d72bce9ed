/**
 * Ingest: sustained attribute-values/s end to end (HTTP → ingest API → Kafka
 * → batch writer → committed in PostgreSQL), commit latency, peak RSS; then,
 * on the same database, the two baselines: the raw ceiling (one COPY of the
 * same rows straight into history) and the naive path (one autocommitted
 * INSERT per value).
 *
 * Definitions (reported with the numbers):
 *  - values_per_sec = values accepted (202) / (first POST → the writer has
 *    committed all of them). The writer's committed-values counter
 *    (atlas_ingest_values_stored_total, incremented after COMMIT) is polled
 *    every 250 ms; the final total is checked with count(*) on history.
 *  - commit latency of a reading = from the start of the POST carrying it to
 *    the first poll (every 50 ms) that finds it in entity_values_ts: one
 *    random reading of every POST is tracked. Resolution: the poll interval.
 */
import { randomUUID } from "crypto";
import type { Pool } from "pg";
import type { BenchTenant } from "./db";
import { copyHistory, historyLine } from "./db";
import type { Reading, Workload } from "./generate";
import { postBody, Rng } from "./generate";
import { offerLoad } from "./offered-load";
import { readCounter, type Service } from "./services";
import { ResourceSampler, round, sinceMs, summarize, type ProcessGroup, type ResourceReport, type Summary } from "./stats";

export interface IngestOptions {
  durationSeconds: number;
  concurrency: number;
  /** Readings' device times start here (unique ms per reading). */
  baseMs: number;
  /** Most rows for the COPY ceiling (it copies the first posts' rows). */
  copyMaxValues: number;
  /** Seconds of the naive path (its rate is extrapolated). */
  naiveSeconds: number;
  log: (s: string) => void;
}

export interface IngestResult {
  posts: number;
  readings: number;
  values: number;
  send_seconds: number;
  end_to_end_seconds: number;
  values_per_sec: number;
  api_accept_values_per_sec: number;
  steady_committed_values_per_sec: number;
  commit_latency: Summary;
  p50_commit_ms: number;
  p99_commit_ms: number;
  http: { status_counts: Record<string, number>; post: Summary };
  verified_rows: number;
  copy_ceiling: { values: number; seconds: number; values_per_sec: number; wal_bytes_per_value: number };
  /** WAL written per stored value during the run (the whole server; nothing else writes then), and against the COPY ceiling's. */
  wal_bytes_per_value: number;
  wal_multiple_of_copy: number;
  naive: { values: number; seconds: number; values_per_sec: number; concurrency: number };
  fraction_of_copy_ceiling: number;
  multiple_of_naive: number;
  resources: ResourceReport;
  api_peak_rss_mb: number;
  writer_peak_rss_mb: number;
}

interface Probe {
  tenantId: string;
  entityId: number;
  attributeId: number;
  tsMs: number;
  startNs: bigint;
}

/** Polls history for tracked readings and records when each first appears. */
class ProbeWatcher {
  private pending: Probe[] = [];
  readonly latencies: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  constructor(private readonly pool: Pool, private readonly intervalMs = 50) {}

  add(p: Probe): void {
    this.pending.push(p);
  }

  get outstanding(): number {
    return this.pending.length;
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async poll(): Promise<void> {
    if (this.busy || this.pending.length === 0) return;
    this.busy = true;
    try {
      const batch = this.pending.slice(0, 500);
      const { rows } = await this.pool.query<{ i: number }>(
        `SELECT x.i FROM unnest($1::uuid[], $2::bigint[], $3::int[], $4::timestamptz[]) WITH ORDINALITY AS x(t, e, a, ts, i)
         WHERE EXISTS (SELECT 1 FROM entity_values_ts h WHERE h.tenant_id = x.t AND h.entity_id = x.e AND h.attribute_id = x.a AND h.ts = x.ts)`,
        [batch.map((p) => p.tenantId), batch.map((p) => p.entityId), batch.map((p) => p.attributeId), batch.map((p) => new Date(p.tsMs).toISOString())],
      );
      const now = process.hrtime.bigint();
      const seen = new Set(rows.map((r) => Number(r.i) - 1));
      for (const i of seen) this.latencies.push(Number(now - batch[i].startNs) / 1e6);
      const done = new Set(seen);
      this.pending = this.pending.filter((p, i) => !(i < batch.length && done.has(i)));
    } catch {
      // a failed poll is retried at the next tick
    } finally {
      this.busy = false;
    }
  }
}

/** POST /v1/telemetry. */
export async function postTelemetry(api: Service, body: string, key: string): Promise<{ status: number; text: string; retryAfter: number }> {
  const res = await fetch(`${api.url}/v1/telemetry`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body,
  });
  const text = await res.text();
  return { status: res.status, text, retryAfter: Number(res.headers.get("retry-after") ?? 1) };
}

/** The server's current WAL position, bytes. */
export async function walPosition(pool: Pool): Promise<bigint> {
  const { rows } = await pool.query<{ b: string }>("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint::text AS b");
  return BigInt(rows[0].b);
}

/** The COPY text of readings of one tenant, under `asTenantId`. */
function* copyLines(w: Workload, t: BenchTenant, asTenantId: string, readings: Reading[], receivedIso: string): Generator<string> {
  for (const r of readings) {
    const ts = new Date(r.tsMs).toISOString();
    for (const [a, v] of r.values) yield historyLine(asTenantId, r.entityId, t.attributeIds[a], w.catalog[a].type, ts, receivedIso, v);
  }
}

export async function runIngest(
  pool: Pool,
  w: Workload,
  tenants: BenchTenant[],
  api: Service,
  writer: Service,
  groups: ProcessGroup[],
  opts: IngestOptions,
): Promise<IngestResult> {
  const { log } = opts;
  const post = (body: string, key: string) => postTelemetry(api, body, key);

  // Warm-up: JIT, registry caches, producer and consumer connections. Own time range (3 h earlier).
  log("ingest: warm-up");
  const warmBase = opts.baseMs - 3 * 3600_000;
  const storedBefore0 = await readCounter(writer.url, "atlas_ingest_values_stored_total");
  let warmValues = 0;
  for (let i = 0; i < Math.min(8, tenants.length * 2); i++) {
    const p = w.post(i, warmBase);
    const r = await post(postBody(w, p.readings), tenants[p.tenant].apiKey);
    if (r.status !== 202) throw new Error(`warm-up POST answered ${r.status}: ${r.text.slice(0, 300)}`);
    warmValues += p.readings.reduce((n, x) => n + x.values.length, 0);
  }
  for (const deadline = Date.now() + 60_000; ; ) {
    if ((await readCounter(writer.url, "atlas_ingest_values_stored_total")) - storedBefore0 >= warmValues) break;
    if (Date.now() > deadline) throw new Error(`warm-up values not committed within 60 s; writer log:\n${writer.tail().slice(-5).join("\n")}`);
    await new Promise((r) => setTimeout(r, 200));
  }

  await pool.query("SELECT pg_stat_statements_reset()");
  const storedBefore = await readCounter(writer.url, "atlas_ingest_values_stored_total");
  const watcher = new ProbeWatcher(pool);
  const sampler = new ResourceSampler(groups);
  const statusCounts: Record<string, number> = {};
  const postMs: number[] = [];
  let nextPost = 0;
  let accepted = 0;
  let acceptedReadings = 0;
  let acceptedPosts = 0;
  const timeline: Array<[number, number]> = [];

  log(`ingest: ${opts.durationSeconds} s of POSTs (${w.opts.readingsPerPost} readings × ${w.opts.valuesPerReading} values) at concurrency ${opts.concurrency}`);
  const wal0 = await walPosition(pool);
  const start = process.hrtime.bigint();
  sampler.start();
  watcher.start();
  let progressBusy = false;
  const progress = setInterval(async () => {
    if (progressBusy) return;
    progressBusy = true;
    try {
      timeline.push([sinceMs(start), (await readCounter(writer.url, "atlas_ingest_values_stored_total")) - storedBefore]);
    } catch {
      // writer busy; next tick
    } finally {
      progressBusy = false;
    }
  }, 250);

  const sendUntil = Number(start) / 1e6 + opts.durationSeconds * 1000;
  const worker = async (id: number) => {
    const rng = new Rng(1000 + id);
    while (Number(process.hrtime.bigint()) / 1e6 < sendUntil) {
      const i = nextPost++;
      const p = w.post(i, opts.baseMs);
      const t = tenants[p.tenant];
      const body = postBody(w, p.readings);
      const probeReading = p.readings[rng.int(p.readings.length)];
      const t0 = process.hrtime.bigint();
      let r: { status: number; text: string; retryAfter: number };
      try {
        r = await post(body, t.apiKey);
      } catch (err) {
        statusCounts.network_error = (statusCounts.network_error ?? 0) + 1;
        log(`ingest: POST failed: ${(err as Error).message}`);
        await new Promise((res) => setTimeout(res, 500));
        continue;
      }
      postMs.push(sinceMs(t0));
      statusCounts[r.status] = (statusCounts[r.status] ?? 0) + 1;
      if (r.status === 202) {
        const values = p.readings.reduce((n, x) => n + x.values.length, 0);
        accepted += values;
        acceptedReadings += p.readings.length;
        acceptedPosts++;
        watcher.add({ tenantId: t.tenantId, entityId: probeReading.entityId, attributeId: t.attributeIds[probeReading.values[0][0]], tsMs: probeReading.tsMs, startNs: t0 });
      } else {
        if (statusCounts[r.status] <= 3) log(`ingest: POST answered ${r.status}: ${r.text.slice(0, 200)}`);
        // The post's readings are lost for the count; a refused post is not retried (it was not accepted).
        await new Promise((res) => setTimeout(res, Math.min(5, r.retryAfter) * 1000));
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, i) => worker(i)));
  const sendSeconds = sinceMs(start) / 1000;
  log(`ingest: sent ${acceptedPosts} posts (${accepted} values) in ${round(sendSeconds, 1)} s; waiting for the writer`);

  // Drain: until the writer has committed every accepted value and every probe was seen.
  let endMs = 0;
  for (const deadline = Date.now() + 600_000; ; ) {
    const stored = (await readCounter(writer.url, "atlas_ingest_values_stored_total")) - storedBefore;
    if (stored >= accepted && endMs === 0) {
      endMs = sinceMs(start);
      timeline.push([endMs, stored]);
    }
    if (endMs > 0 && watcher.outstanding === 0) break;
    if (Date.now() > deadline) throw new Error(`writer did not commit ${accepted} values within 10 min (has ${stored})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  clearInterval(progress);
  watcher.stop();
  const resources = sampler.stop();
  const walBytes = Number((await walPosition(pool)) - wal0);
  const e2eSeconds = endMs / 1000;

  // Steady rate: committed values between 20 % and 80 % of the total, from the timeline.
  const at = (frac: number) => timeline.find(([, v]) => v >= frac * accepted) ?? timeline[timeline.length - 1];
  const [t20, v20] = at(0.2);
  const [t80, v80] = at(0.8);
  const steady = t80 > t20 ? (v80 - v20) / ((t80 - t20) / 1000) : NaN;

  const { rows: cnt } = await pool.query<{ n: string }>(
    "SELECT count(*) AS n FROM entity_values_ts WHERE tenant_id = ANY($1::uuid[]) AND ts >= $2 AND ts < $3",
    [tenants.map((t) => t.tenantId), new Date(opts.baseMs), new Date(opts.baseMs + nextPost * w.opts.readingsPerPost)],
  );
  const verified = Number(cnt[0].n);
  if (verified !== accepted) log(`ingest: WARNING history holds ${verified} rows of the run, ${accepted} values were accepted`);

  // ----- baseline 1: the raw ceiling, one COPY of the same rows (first posts, up to copyMaxValues) -----
  const receivedIso = new Date().toISOString();
  const copyTenant = tenants.map(() => randomUUID());
  let copyValues = 0;
  let copyPosts = 0;
  for (; copyPosts < nextPost && copyValues < opts.copyMaxValues; copyPosts++) copyValues += w.post(copyPosts, opts.baseMs).readings.reduce((n, r) => n + r.values.length, 0);
  log(`ingest: COPY ceiling: ${copyValues} values (the rows of the first ${copyPosts} posts) in one COPY`);
  function* allCopyLines(): Generator<string> {
    let chunk = "";
    for (let i = 0; i < copyPosts; i++) {
      const p = w.post(i, opts.baseMs);
      for (const line of copyLines(w, tenants[p.tenant], copyTenant[p.tenant], p.readings, receivedIso)) {
        chunk += line;
        if (chunk.length >= 256 * 1024) {
          yield chunk;
          chunk = "";
        }
      }
    }
    if (chunk) yield chunk;
  }
  // Generating the text costs CPU too; time the COPY over pre-built chunks only.
  const chunks = [...allCopyLines()];
  const copyWal0 = await walPosition(pool);
  const c0 = process.hrtime.bigint();
  await copyHistory(pool, chunks);
  const copySeconds = sinceMs(c0) / 1000;
  const copyWalBytes = Number((await walPosition(pool)) - copyWal0);
  chunks.length = 0;

  // ----- baseline 2: the naive path, one autocommitted INSERT per value -----
  const naiveTenant = tenants.map(() => randomUUID());
  const naiveConcurrency = opts.concurrency;
  if (opts.naiveSeconds > 0) log(`ingest: naive path: ${opts.naiveSeconds} s of single-row INSERTs at concurrency ${naiveConcurrency}`);
  const rows: string[][] = [];
  for (let i = 0; opts.naiveSeconds > 0 && rows.length < 2_000_000 && i < nextPost; i++) {
    const p = w.post(i, opts.baseMs);
    const t = tenants[p.tenant];
    for (const r of p.readings) for (const [a, v] of r.values) rows.push([naiveTenant[p.tenant], String(r.entityId), String(t.attributeIds[a]), new Date(r.tsMs).toISOString(), w.catalog[a].type, String(v)]);
    if (rows.length > 400_000) break;
  }
  let naiveDone = 0;
  let naiveNext = 0;
  const n0 = process.hrtime.bigint();
  const naiveUntil = Date.now() + opts.naiveSeconds * 1000;
  const col: Record<string, string> = { int: "value_int", decimal: "value_decimal", bool: "value_bool", string: "value_string", timestamp: "value_ts" };
  await Promise.all(
    Array.from({ length: naiveConcurrency }, async () => {
      const c = await pool.connect();
      try {
        while (Date.now() < naiveUntil && naiveNext < rows.length) {
          const [t, e, a, ts, type, v] = rows[naiveNext++];
          await c.query(
            `INSERT INTO entity_values_ts (tenant_id, entity_id, attribute_id, ts, received_at, ${col[type]}) VALUES ($1, $2, $3, $4, now(), $5) ON CONFLICT DO NOTHING`,
            [t, e, a, ts, v],
          );
          naiveDone++;
        }
      } finally {
        c.release();
      }
    }),
  );
  const naiveSeconds = sinceMs(n0) / 1000;

  const latency = summarize(watcher.latencies);
  const valuesPerSec = accepted / e2eSeconds;
  const copyRate = copyValues / copySeconds;
  const naiveRate = naiveDone / naiveSeconds;
  return {
    posts: acceptedPosts,
    readings: acceptedReadings,
    values: accepted,
    send_seconds: round(sendSeconds, 2),
    end_to_end_seconds: round(e2eSeconds, 2),
    values_per_sec: Math.round(valuesPerSec),
    api_accept_values_per_sec: Math.round(accepted / sendSeconds),
    steady_committed_values_per_sec: Math.round(steady),
    commit_latency: latency,
    p50_commit_ms: latency.p50_ms,
    p99_commit_ms: latency.p99_ms,
    http: { status_counts: statusCounts, post: summarize(postMs) },
    verified_rows: verified,
    copy_ceiling: { values: copyValues, seconds: round(copySeconds, 2), values_per_sec: Math.round(copyRate), wal_bytes_per_value: round(copyWalBytes / copyValues, 1) },
    wal_bytes_per_value: round(walBytes / accepted, 1),
    wal_multiple_of_copy: round(walBytes / accepted / (copyWalBytes / copyValues), 2),
    naive: { values: naiveDone, seconds: round(naiveSeconds, 2), values_per_sec: Math.round(naiveRate), concurrency: naiveConcurrency },
    fraction_of_copy_ceiling: round(valuesPerSec / copyRate, 3),
    multiple_of_naive: round(valuesPerSec / naiveRate, 1),
    resources,
    api_peak_rss_mb: resources.groups.api?.peak_hwm_mb ?? NaN,
    writer_peak_rss_mb: resources.groups.writer?.peak_hwm_mb ?? NaN,
  };
}

/** The statements where PostgreSQL spent the ingest's time (pg_stat_statements, nested ones included). */
export async function topStatements(pool: Pool, limit = 8): Promise<Array<{ query: string; calls: number; total_ms: number; mean_ms: number; rows: number }>> {
  const { rows } = await pool.query(
    `SELECT regexp_replace(left(query, 160), '\\s+', ' ', 'g') AS query, calls::int, round(total_exec_time)::float8 AS total_ms,
            round(mean_exec_time::numeric, 2)::float8 AS mean_ms, rows::bigint::float8 AS rows
     FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
     ORDER BY total_exec_time DESC LIMIT $1`,
    [limit],
  );
  return rows;
}

export interface SustainedAttempt {
  offered_values_per_sec: number;
  seconds: number;
  accepted_values: number;
  refused_posts: number;
  late_posts: number;
  committed_values_per_sec: number;
  commit_latency: Summary;
  /** Values accepted but not yet committed, averaged over the middle and the last third of the hold. */
  backlog_middle_third: number;
  backlog_last_third: number;
  held: boolean;
  why_not: string | null;
}

export interface SustainedResult {
  /** The highest offered rate that held (null: none of the tried rates did). */
  values_per_sec: number | null;
  p99_commit_ms: number | null;
  attempts: SustainedAttempt[];
  definition: string;
}

export interface SustainedOptions {
  /** Offered rates to try, highest first; the first that holds is reported. */
  rates: number[];
  seconds: number;
  /** Device time of the first attempt's readings; each attempt continues after the previous one. */
  baseMs: number;
  maxP99CommitMs: number;
  log: (s: string) => void;
}

/**
 * The writer keeping up: each rate is offered open-loop for `seconds`; it
 * holds when every post was accepted and sent on time, commit latency p99
 * stays within the bound, and the backlog (accepted − committed) of the last
 * third is no larger than the middle third's plus one second of the rate.
 */
export async function runSustained(
  pool: Pool,
  w: Workload,
  tenants: BenchTenant[],
  api: Service,
  writer: Service,
  opts: SustainedOptions,
): Promise<SustainedResult> {
  const attempts: SustainedAttempt[] = [];
  const valuesPerPost = w.opts.readingsPerPost * w.opts.valuesPerReading;
  let baseMs = opts.baseMs;
  for (const rate of opts.rates) {
    const postsPerSecond = rate / valuesPerPost;
    opts.log(`ingest sustained: ${rate} values/s offered for ${opts.seconds} s (${round(postsPerSecond, 1)} posts/s)`);
    const storedBefore = await readCounter(writer.url, "atlas_ingest_values_stored_total");
    const watcher = new ProbeWatcher(pool);
    watcher.start();
    let accepted = 0;
    let refused = 0;
    const backlog: Array<[number, number]> = [];
    const start = process.hrtime.bigint();
    const sampler = setInterval(async () => {
      try {
        const stored = (await readCounter(writer.url, "atlas_ingest_values_stored_total")) - storedBefore;
        backlog.push([sinceMs(start) / 1000, accepted - stored]);
      } catch {
        // a missed sample
      }
    }, 1000);
    const rng = new Rng(rate);
    const base = baseMs;
    const load = await offerLoad({
      postsPerSecond,
      seconds: opts.seconds,
      maxInFlight: 32,
      send: async (i, dueNs) => {
        const p = w.post(i, base);
        const t = tenants[p.tenant];
        const r = await postTelemetry(api, postBody(w, p.readings), t.apiKey).catch(() => ({ status: 0 }));
        if (r.status !== 202) {
          refused++;
          return 0;
        }
        const probe = p.readings[rng.int(p.readings.length)];
        // Latency from the post's due time: a late send counts against the system.
        watcher.add({ tenantId: t.tenantId, entityId: probe.entityId, attributeId: t.attributeIds[probe.values[0][0]], tsMs: probe.tsMs, startNs: dueNs });
        const n = p.readings.reduce((k, x) => k + x.values.length, 0);
        accepted += n;
        return n;
      },
    });
    clearInterval(sampler);
    baseMs += load.posts * w.opts.readingsPerPost + 60_000;
    // Let the probes of the last posts land (bounded), then judge.
    for (const deadline = Date.now() + 30_000; watcher.outstanding > 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
    watcher.stop();
    const stored = (await readCounter(writer.url, "atlas_ingest_values_stored_total")) - storedBefore;
    const third = (from: number, to: number) => {
      const xs = backlog.filter(([t]) => t >= from * opts.seconds && t < to * opts.seconds).map(([, b]) => b);
      return xs.length ? Math.round(xs.reduce((a, b) => a + b, 0) / xs.length) : NaN;
    };
    const latency = summarize(watcher.latencies);
    const middle = third(1 / 3, 2 / 3);
    const last = third(2 / 3, 1.01);
    const reasons: string[] = [];
    if (refused > 0) reasons.push(`${refused} posts refused`);
    if (load.late_posts > load.posts * 0.01) reasons.push(`${load.late_posts} posts sent late (the client could not offer the rate)`);
    if (watcher.outstanding > 0) reasons.push(`${watcher.outstanding} probed readings not committed 30 s after the load`);
    if (!(latency.p99_ms <= opts.maxP99CommitMs)) reasons.push(`commit p99 ${latency.p99_ms} ms > ${opts.maxP99CommitMs} ms`);
    if (last > middle + rate) reasons.push(`backlog grew from ${middle} to ${last} values`);
    const attempt: SustainedAttempt = {
      offered_values_per_sec: rate,
      seconds: round(load.seconds, 1),
      accepted_values: accepted,
      refused_posts: refused,
      late_posts: load.late_posts,
      committed_values_per_sec: Math.round(stored / load.seconds),
      commit_latency: latency,
      backlog_middle_third: middle,
      backlog_last_third: last,
      held: reasons.length === 0,
      why_not: reasons.length ? reasons.join("; ") : null,
    };
    attempts.push(attempt);
    opts.log(`ingest sustained: ${rate} values/s ${attempt.held ? "held" : `did not hold: ${attempt.why_not}`} (commit p99 ${latency.p99_ms} ms)`);
    // Drain what is left before the next attempt, so attempts do not overlap.
    for (const deadline = Date.now() + 300_000; Date.now() < deadline; ) {
      if ((await readCounter(writer.url, "atlas_ingest_values_stored_total")) - storedBefore >= accepted) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    if (attempt.held) return { values_per_sec: rate, p99_commit_ms: latency.p99_ms, attempts, definition: SUSTAINED_DEFINITION };
  }
  return { values_per_sec: null, p99_commit_ms: null, attempts, definition: SUSTAINED_DEFINITION };
}

const SUSTAINED_DEFINITION =
  "the highest of the tried offered rates (open loop, posts due at fixed intervals) that held for the whole hold: every post accepted and sent on time, " +
  "commit latency p99 (post due time → first 50 ms poll finding the probed reading) within the bound, backlog of the last third ≤ the middle third's + 1 s of the rate";
