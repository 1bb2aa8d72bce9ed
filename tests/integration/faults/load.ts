/**
 * Load generator and exact auditor of the fault suites.
 *
 * The load: N concurrent clients POST batches of readings over several
 * tenants while a fault is injected. Every reading is unique within its
 * tenant and derivable from one number, its sequence `seq`:
 *   entity_id = seq % entities + 1, ts = base + seq ms,
 *   values { seq: seq (int), load: (seq % 1000) / 4 + 0.5 (decimal) }.
 * Each request's outcome is recorded: 202 (acked), 503 (refused, must carry
 * Retry-After), a connection error or timeout (unknown: it may or may not be
 * stored, but never twice) or any other status. With `retry`, a batch that was
 * not acked is sent again with the very same readings, as a device honouring
 * Retry-After does, until it is acked (or the drain deadline passes).
 *
 * The audit reads every stored row of each tenant and classifies it by its
 * seq: every acked reading must be stored exactly once with its own values;
 * nothing may be stored that was never sent; readings never acked (503 or
 * unknown at the end) are reported as stored or not, never twice.
 */
import { expect } from "chai";
import type { Pool } from "pg";
import { newTenant, post, registerAttributes, waitFor } from "../ingest/harness";

export interface LoadTenant {
  tenant_id: string;
  api_key: string;
}

/** A tenant ready for load: its two attributes registered, its request rate limit lifted. */
export async function loadTenant(url: string, pool: Pool): Promise<LoadTenant> {
  const t = await newTenant(pool);
  await registerAttributes(url, t.api_key, [["seq", "int", true], ["load", "decimal"]]);
  await pool.query("UPDATE tenants SET rate_limit_rps = 100000 WHERE tenant_id = $1", [t.tenant_id]);
  return t;
}

/** Rate limits high enough that the load never meets a 429. */
export const NO_RATE_LIMITS = { liveReadingsPerSecond: 10_000_000, backfillReadingsPerSecond: 10_000_000 };

export interface LoadOptions {
  url: string;
  tenants: LoadTenant[];
  /** Concurrent clients, spread over the tenants round-robin. Defaults to 2 per tenant. */
  clients?: number;
  readingsPerRequest?: number;
  entities?: number;
  /** Pause of each client between its requests, ms. Defaults to 100. */
  pauseMs?: number;
  /** Send again (same readings) what was not acked. Defaults to false. */
  retry?: boolean;
  /** Per-attempt timeout, ms (an attempt timing out is "unknown"). Defaults to 20 s. */
  requestTimeoutMs?: number;
}

type Outcome = "acked" | "refused" | "unknown" | "other";

interface Batch {
  tenant: number;
  from: number;
  count: number;
  outcome?: Outcome;
  attempts: number;
}

export interface Attempt {
  tenant: number;
  startedAt: number;
  endedAt: number;
  status: number | "error";
  readings: number;
  retryAfter: string | null;
}

const valueOf = (seq: number) => ({ seq, load: (seq % 1000) / 4 + 0.5 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Load {
  readonly base = Date.now() - 15 * 60_000;
  readonly batches: Batch[] = [];
  readonly attempts: Attempt[] = [];
  private readonly next: number[];
  private readonly pending: Batch[] = [];
  private running = false;
  private clients: Promise<void>[] = [];
  private readonly o: Required<LoadOptions>;

  constructor(opts: LoadOptions) {
    this.o = {
      clients: opts.tenants.length * 2,
      readingsPerRequest: 100,
      entities: 97,
      pauseMs: 100,
      retry: false,
      requestTimeoutMs: 20_000,
      ...opts,
    };
    this.next = opts.tenants.map(() => 0);
  }

  start(): this {
    this.running = true;
    this.clients = Array.from({ length: this.o.clients }, (_, k) => this.client(k % this.o.tenants.length));
    return this;
  }

  /** Stops sending new batches; with `retry`, resends what was not acked until acked or `drainMs` passes. */
  async stop(drainMs = 60_000): Promise<void> {
    this.running = false;
    await Promise.all(this.clients);
    const deadline = Date.now() + drainMs;
    while (this.o.retry && this.pending.length > 0 && Date.now() < deadline) {
      const b = this.pending.shift()!;
      await this.send(b);
      if (b.outcome !== "acked") await sleep(200);
    }
  }

  /** Acked readings so far, per tenant. */
  acked(tenant: number): number {
    return this.batches.filter((b) => b.tenant === tenant && b.outcome === "acked").reduce((n, b) => n + b.count, 0);
  }

  /** Resolves once every tenant has more than `n` acked readings (load really running). */
  async untilAcked(n: number, timeoutMs = 60_000): Promise<void> {
    await waitFor(async () => this.o.tenants.every((_, i) => this.acked(i) > n), timeoutMs, `${n} acked readings per tenant`);
  }

  entityOf(seq: number): number {
    return (seq % this.o.entities) + 1;
  }

  private async client(tenant: number): Promise<void> {
    while (this.running) {
      const b =
        this.o.retry && this.pending.length > 0
          ? this.pending.shift()!
          : { tenant, from: this.take(tenant), count: this.o.readingsPerRequest, attempts: 0 };
      if (b.attempts === 0) this.batches.push(b);
      await this.send(b);
      await sleep(b.outcome === "acked" ? this.o.pauseMs : Math.max(this.o.pauseMs, 100));
    }
  }

  private take(tenant: number): number {
    const from = this.next[tenant];
    this.next[tenant] += this.o.readingsPerRequest;
    return from;
  }

  private async send(b: Batch): Promise<void> {
    const t = this.o.tenants[b.tenant];
    const readings = Array.from({ length: b.count }, (_, j) => {
      const seq = b.from + j;
      return { entity_id: this.entityOf(seq), entity_type: "meter", ts: new Date(this.base + seq).toISOString(), values: valueOf(seq) };
    });
    b.attempts++;
    const startedAt = Date.now();
    let status: number | "error" = "error";
    let retryAfter: string | null = null;
    try {
      const res = await Promise.race([
        post(`${this.o.url}/v1/telemetry`, t.api_key, { readings }),
        sleep(this.o.requestTimeoutMs).then(() => {
          throw new Error("request timed out");
        }),
      ]);
      status = res.status;
      retryAfter = res.headers.get("retry-after");
      if (status === 202 && res.body?.accepted !== b.count) throw new Error(`202 for ${res.body?.accepted} of ${b.count} readings`);
    } catch (err) {
      if (status !== "error") throw err;
    }
    this.attempts.push({ tenant: b.tenant, startedAt, endedAt: Date.now(), status, readings: b.count, retryAfter });
    b.outcome = status === 202 ? "acked" : status === 503 ? "refused" : status === "error" ? "unknown" : "other";
    if (b.outcome !== "acked" && this.o.retry) this.pending.push(b);
  }

  /** Attempts that ended with `status`, optionally only those started and ended within [from, to]. */
  answered(status: number | "error", from = 0, to = Infinity): Attempt[] {
    return this.attempts.filter((a) => a.status === status && a.startedAt >= from && a.endedAt <= to);
  }

  /** The seq → outcome of every reading sent to a tenant. */
  outcomes(tenant: number): Map<number, Outcome | undefined> {
    const m = new Map<number, Outcome | undefined>();
    for (const b of this.batches) if (b.tenant === tenant) for (let s = b.from; s < b.from + b.count; s++) m.set(s, b.outcome);
    return m;
  }

  get tenants(): LoadTenant[] {
    return this.o.tenants;
  }
}

export interface AuditFigures {
  requests: number;
  readings: number;
  acked: number;
  refused503: number;
  unknown: number;
  other: number;
  /** Readings (two values each) stored. */
  stored: number;
  /** Stored readings that were never acked (a 503 or an unknown outcome that was stored anyway). */
  storedUnacked: number;
  /** Acked readings not stored. */
  missing: number;
  /** Values stored more than once (same entity, attribute, ts). */
  duplicates: number;
  /** Stored values that match no reading sent (wrong seq, entity or value). */
  foreign: number;
  /** Readings of which only one of the two values is stored. */
  partial: number;
  /** SUM(value_int) and 4·SUM(value_decimal) over stored rows == the same sums over the readings found stored. */
  checksumOk: boolean;
}

/** Counts, per tenant, every stored row against what the load was told; totals over the tenants. */
export async function audit(pool: Pool, load: Load): Promise<AuditFigures> {
  const f: AuditFigures = {
    requests: load.attempts.length,
    readings: load.batches.reduce((n, b) => n + b.count, 0),
    acked: 0,
    refused503: load.answered(503).reduce((n, a) => n + a.readings, 0),
    unknown: load.answered("error").reduce((n, a) => n + a.readings, 0),
    other: load.attempts.filter((a) => a.status !== 202 && a.status !== 503 && a.status !== "error").reduce((n, a) => n + a.readings, 0),
    stored: 0,
    storedUnacked: 0,
    missing: 0,
    duplicates: 0,
    foreign: 0,
    partial: 0,
    checksumOk: true,
  };
  for (const [i, t] of load.tenants.entries()) {
    const outcomes = load.outcomes(i);
    const { rows: agg } = await pool.query(
      `SELECT count(*)::int AS n, count(DISTINCT (entity_id, attribute_id, ts))::int AS d,
              coalesce(sum(value_int), 0)::text AS si, coalesce(sum(value_decimal) * 4, 0)::numeric(30,0)::text AS sd
       FROM entity_values_ts WHERE tenant_id = $1`,
      [t.tenant_id],
    );
    f.duplicates += agg[0].n - agg[0].d;
    const { rows } = await pool.query(
      `SELECT v.entity_id::int AS entity_id, a.name, v.value_int::text AS vi, v.value_decimal::float8 AS vd,
              ((extract(epoch FROM v.ts) * 1000)::bigint - $2::bigint)::int AS seq
       FROM entity_values_ts v JOIN attributes a USING (tenant_id, attribute_id) WHERE v.tenant_id = $1`,
      [t.tenant_id, load.base],
    );
    const seen = new Map<number, number>();
    for (const r of rows) {
      const expected = valueOf(r.seq);
      const ok =
        outcomes.has(r.seq) &&
        r.entity_id === load.entityOf(r.seq) &&
        (r.name === "seq" ? r.vi === String(expected.seq) : r.name === "load" && r.vd === expected.load);
      if (!ok) f.foreign++;
      else seen.set(r.seq, (seen.get(r.seq) ?? 0) + 1);
    }
    let sumInt = 0n;
    let sumQuarters = 0n;
    for (const [seq, outcome] of outcomes) {
      const n = seen.get(seq) ?? 0;
      if (outcome === "acked") f.acked++;
      if (n === 0) {
        if (outcome === "acked") f.missing++;
        continue;
      }
      if (n !== 2) f.partial++;
      f.stored++;
      if (outcome !== "acked") f.storedUnacked++;
      sumInt += BigInt(seq);
      sumQuarters += BigInt((seq % 1000) + 2);
    }
    if (agg[0].si !== String(sumInt) || agg[0].sd !== String(sumQuarters)) f.checksumOk = false;
  }
  return f;
}

/** Waits until every acked reading is stored (or the timeout passes), then lets late replays land and audits. */
export async function settleAndAudit(pool: Pool, load: Load, timeoutMs = 120_000): Promise<AuditFigures> {
  const acked = load.tenants.map((_, i) => load.acked(i) * 2);
  await waitFor(
    async () => {
      const { rows } = await pool.query(
        "SELECT tenant_id::text, count(*)::int AS n FROM entity_values_ts WHERE tenant_id = ANY($1::uuid[]) GROUP BY 1",
        [load.tenants.map((t) => t.tenant_id)],
      );
      const n = new Map(rows.map((r) => [r.tenant_id, r.n]));
      return load.tenants.every((t, i) => (n.get(t.tenant_id) ?? 0) >= acked[i]);
    },
    timeoutMs,
    "every acked reading stored",
  ).catch(() => undefined); // the audit says what is missing
  await sleep(1_500); // a replay landing late would show up now
  return audit(pool, load);
}

export function auditLine(f: AuditFigures): string {
  return (
    `audit: sent ${f.requests} requests / ${f.readings} readings, acked ${f.acked}, 503 ${f.refused503}, ` +
    `unknown ${f.unknown}, other ${f.other}, stored ${f.stored} (unacked but stored ${f.storedUnacked}), ` +
    `missing ${f.missing}, duplicates ${f.duplicates}, foreign ${f.foreign}, partial ${f.partial}, checksum ${f.checksumOk ? "ok" : "MISMATCH"}`
  );
}

/**
 * Prints the audit line and asserts the rule: every acked reading stored
 * exactly once, nothing else stored, sums equal. `strict`: the only stored
 * readings are acked ones (stored == acked).
 */
export function expectExactlyOnce(f: AuditFigures, opts: { strict: boolean }): void {
  console.log(`      ${auditLine(f)}`);
  expect(f.acked, "acked readings").to.be.greaterThan(0);
  expect(f.duplicates, "duplicates").to.equal(0);
  expect(f.missing, "acked readings not stored").to.equal(0);
  expect(f.foreign, "stored values matching no reading sent").to.equal(0);
  expect(f.partial, "readings stored in part").to.equal(0);
  expect(f.checksumOk, "checksums").to.equal(true);
  if (opts.strict) expect(f.stored, "stored == acked").to.equal(f.acked);
  else expect(f.stored - f.storedUnacked, "stored acked readings").to.equal(f.acked);
}
