/**
 * Query: latency percentiles and throughput at a fixed concurrency for
 *  - latest values, cache miss (each entity read once, eventual: Redis miss → replica → store) and
 *    cache hit (a small warmed set read over and over);
 *  - hot-attribute searches (eq / in / range mix) through the API, strong
 *    consistency so the search cache cannot answer (every one is a query);
 *  - time series: a day of 1-minute points aggregated to 1 h averages;
 * and, in the same run, the same searches as SQL: the projection's own
 * statement (app/query/sql/search searchSql, its ordered scan) against pure EAV over the
 * history (latest value per entity and attribute from entity_values_ts),
 * both under the tenant's row-level security at the same concurrency.
 */
import type { Pool } from "pg";
import { withTenant } from "../app/shared/db";
import { searchSql } from "../app/query/sql/search";
import type { ParsedFilter } from "../app/query/search/filters";
import type { DataType } from "../app/query/catalog";
import type { BenchTenant } from "./db";
import { COMMON, Rng, type Workload } from "./generate";
import type { Service } from "./services";
import { ResourceSampler, round, sinceMs, summarize, type ProcessGroup, type ResourceReport, type Summary } from "./stats";

export interface QueryOptions {
  concurrency: number;
  /** Seconds per measured phase. */
  phaseSeconds: number;
  /** Entities per tenant with a seeded day of points, and that day's start. */
  tsEntities: number;
  tsDayStartMs: number;
  log: (s: string) => void;
}

export interface PhaseResult extends Summary {
  throughput_per_sec: number;
  errors: number;
  statuses: Record<string, number>;
  cache_status: Record<string, number>;
  sources: Record<string, number>;
}

export interface QueryResult {
  latest_miss: PhaseResult;
  latest_hit: PhaseResult;
  search: PhaseResult;
  timeseries: PhaseResult;
  search_sql_projection: PhaseResult;
  search_sql_eav: PhaseResult;
  /** EAV p50 / projection p50, both as SQL at the same concurrency. */
  search_speedup_vs_eav: number;
  search_speedup_vs_eav_p99: number;
  search_mix: string[];
  eav_index: string;
  resources: ResourceReport;
}

interface Request {
  path: string;
  method?: "GET" | "POST";
  body?: string;
  headers?: Record<string, string>;
  key: string;
}

/** Runs `next()` requests from `concurrency` workers for `seconds` (or until next() returns null). */
async function phase(
  baseUrl: string,
  concurrency: number,
  seconds: number,
  next: (worker: number) => Request | null,
): Promise<PhaseResult> {
  const lat: number[] = [];
  const statuses: Record<string, number> = {};
  const cache: Record<string, number> = {};
  const sources: Record<string, number> = {};
  let errors = 0;
  const start = process.hrtime.bigint();
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (Date.now() < until) {
        const r = next(w);
        if (!r) return;
        const t0 = process.hrtime.bigint();
        try {
          const res = await fetch(baseUrl + r.path, {
            method: r.method ?? "GET",
            headers: { authorization: `Bearer ${r.key}`, ...(r.body ? { "content-type": "application/json" } : {}), ...r.headers },
            body: r.body,
          });
          await res.arrayBuffer();
          lat.push(sinceMs(t0));
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          if (res.status !== 200) errors++;
          const cs = res.headers.get("x-cache-status") ?? "none";
          cache[cs] = (cache[cs] ?? 0) + 1;
          const src = res.headers.get("x-data-source") ?? "none";
          sources[src] = (sources[src] ?? 0) + 1;
        } catch {
          errors++;
        }
      }
    }),
  );
  const wall = sinceMs(start) / 1000;
  return { ...summarize(lat), throughput_per_sec: round(lat.length / wall, 1), errors, statuses, cache_status: cache, sources };
}

/** Like phase(), for SQL run directly on a pool. */
async function sqlPhase(concurrency: number, seconds: number, maxQueries: number, next: () => () => Promise<unknown>): Promise<PhaseResult> {
  const lat: number[] = [];
  let errors = 0;
  let issued = 0;
  const start = process.hrtime.bigint();
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until && issued < maxQueries) {
        issued++;
        const run = next();
        const t0 = process.hrtime.bigint();
        try {
          await run();
          lat.push(sinceMs(t0));
        } catch {
          errors++;
        }
      }
    }),
  );
  const wall = sinceMs(start) / 1000;
  return { ...summarize(lat), throughput_per_sec: round(lat.length / wall, 1), errors, statuses: {}, cache_status: {}, sources: {} };
}

type Op = "eq" | "in" | "lt" | "gte";
interface Filter {
  attribute: string;
  op: Op;
  value: unknown;
}

/** The search mix: equality, membership and ranges on hot common attributes, single and combined. */
export const SEARCHES: Filter[][] = [
  [{ attribute: "status", op: "eq", value: "error" }],
  [{ attribute: "status", op: "in", value: ["warn", "offline"] }],
  [{ attribute: "battery", op: "lt", value: 5 }],
  [{ attribute: "online", op: "eq", value: false }, { attribute: "rssi", op: "gte", value: -40 }],
  [{ attribute: "firmware", op: "eq", value: "2.0.0" }, { attribute: "status", op: "eq", value: "warn" }],
  [{ attribute: "rssi", op: "gte", value: -35 }],
];

const COLUMN: Record<DataType, string> = { int: "value_int", decimal: "value_decimal", bool: "value_bool", string: "value_string", timestamp: "value_ts" };
const SQL_OP: Record<Op, string> = { eq: "=", in: "= ANY", lt: "<", gte: ">=" };

/**
 * Pure EAV: for each filtered attribute, the latest value of every entity of
 * the tenant (DISTINCT ON over history, newest ts first), filtered, joined
 * across filters; newest first by that latest ts, 100 rows, then the latest
 * value of every attribute of the entities found (what the projection's
 * answer carries). Generous to EAV: ordered by the filtered attribute's ts,
 * not the entity's newest update (which would need every attribute).
 */
export function eavSql(filters: Filter[], attrs: Map<string, { id: number; type: DataType }>, limit = 100): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const bind = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const ctes: string[] = [];
  const where: string[] = [];
  filters.forEach((f, i) => {
    const a = attrs.get(f.attribute)!;
    const col = COLUMN[a.type];
    ctes.push(
      `f${i} AS (SELECT DISTINCT ON (entity_id) entity_id, ts, ${col} AS v FROM entity_values_ts
        WHERE tenant_id = current_setting('app.tenant_id')::uuid AND attribute_id = ${bind(a.id)} ORDER BY entity_id, ts DESC)`,
    );
    const cast = a.type === "decimal" ? "::float8" : a.type === "int" ? "::bigint" : a.type === "bool" ? "::bool" : "::text";
    where.push(f.op === "in" ? `f${i}.v = ANY(${bind(f.value)}${cast}[])` : `f${i}.v ${SQL_OP[f.op]} ${bind(f.value)}${cast}`);
  });
  const joins = filters.slice(1).map((_, i) => `JOIN f${i + 1} USING (entity_id)`).join(" ");
  const text = `WITH ${ctes.join(",\n")},
    found AS (SELECT f0.entity_id, f0.ts FROM f0 ${joins} WHERE ${where.join(" AND ")} ORDER BY f0.ts DESC, f0.entity_id DESC LIMIT ${limit})
    SELECT found.entity_id, l.attribute_id, l.ts,
           coalesce(l.value_int::text, l.value_decimal::text, l.value_bool::text, l.value_string, l.value_ts::text) AS v
    FROM found CROSS JOIN LATERAL (
      SELECT DISTINCT ON (h.attribute_id) h.attribute_id, h.ts, h.value_int, h.value_decimal, h.value_bool, h.value_string, h.value_ts
      FROM entity_values_ts h WHERE h.tenant_id = current_setting('app.tenant_id')::uuid AND h.entity_id = found.entity_id
      ORDER BY h.attribute_id, h.ts DESC) l
    ORDER BY found.ts DESC, found.entity_id DESC`;
  return { text, params };
}

export async function runQuery(
  pool: Pool,
  w: Workload,
  tenants: BenchTenant[],
  query: Service,
  groups: ProcessGroup[],
  opts: QueryOptions,
): Promise<QueryResult> {
  const { log } = opts;
  const C = opts.concurrency;
  const rng = new Rng(4242);
  const sampler = new ResourceSampler(groups);
  sampler.start();

  // ----- latest, cache miss: every entity at most once, in a random order -----
  const perTenant = w.entitiesPerTenant;
  const order = Array.from({ length: perTenant * tenants.length }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  // The hit set is kept out of the miss phase, so it is not warmed by it.
  const hitSet = order.splice(0, Math.min(200 * tenants.length, Math.floor(order.length / 10)));
  let cursor = 0;
  const entityPath = (i: number): Request => {
    const t = tenants[i % tenants.length];
    return { path: `/v1/entities/${1 + Math.floor(i / tenants.length)}`, key: t.apiKey };
  };
  log(`query: latest (cache miss), ${opts.phaseSeconds} s at concurrency ${C}`);
  const latestMiss = await phase(query.url, C, opts.phaseSeconds, () => (cursor < order.length ? entityPath(order[cursor++]) : null));

  // ----- latest, cache hit: warm the hit set, then read it over and over -----
  await phase(query.url, C, 600, (() => {
    let k = 0;
    return () => (k < hitSet.length ? entityPath(hitSet[k++]) : null);
  })());
  log(`query: latest (cache hit), ${opts.phaseSeconds} s`);
  const latestHit = await phase(query.url, C, opts.phaseSeconds, () => entityPath(hitSet[rng.int(hitSet.length)]));

  // ----- hot searches through the API (strong: the primary, never the search cache) -----
  log(`query: hot-attribute searches (API, strong), ${opts.phaseSeconds} s`);
  let s = 0;
  const search = await phase(query.url, C, opts.phaseSeconds, () => {
    const k = s++;
    return {
      path: "/v1/entities/search",
      method: "POST",
      body: JSON.stringify({ filters: SEARCHES[k % SEARCHES.length], limit: 100 }),
      headers: { "x-consistency-level": "strong" },
      key: tenants[Math.floor(k / SEARCHES.length) % tenants.length].apiKey,
    };
  });

  // ----- time series: a day of 1-minute points → 24 hourly averages -----
  log(`query: time series (1 day of points, 1 h avg), ${opts.phaseSeconds} s`);
  const from = new Date(opts.tsDayStartMs).toISOString();
  const to = new Date(opts.tsDayStartMs + 86_400_000).toISOString();
  const timeseries = await phase(query.url, C, opts.phaseSeconds, () => {
    const t = tenants[rng.int(tenants.length)];
    const e = 1 + rng.int(opts.tsEntities);
    return { path: `/v1/entities/${e}/timeseries?attributes=battery&from=${from}&to=${to}&interval=1h&agg=avg`, key: t.apiKey };
  });

  // ----- the same searches as SQL: projection vs pure EAV -----
  const attrsOf = (t: BenchTenant) =>
    new Map(COMMON.map((c, i) => [c.name, { id: t.attributeIds[i], type: c.type as DataType }]));
  const parsed = (t: BenchTenant, filters: Filter[]): ParsedFilter[] =>
    filters.map((f) => {
      const a = attrsOf(t).get(f.attribute)!;
      return {
        attribute: { name: f.attribute, attributeId: a.id, dataType: a.type, isHot: true },
        op: f.op,
        values: Array.isArray(f.value) ? (f.value as ParsedFilter["values"]) : [f.value as ParsedFilter["values"][number]],
      };
    });
  const run = (t: BenchTenant, q: { text: string; params: unknown[] }) => () =>
    withTenant(pool, t.tenantId, (c) => c.query(q.text, q.params), { readOnly: true });

  log(`query: searches as SQL on the projection, ${opts.phaseSeconds} s`);
  let k1 = 0;
  const projSql = await sqlPhase(C, opts.phaseSeconds, Infinity, () => {
    const k = k1++;
    const t = tenants[Math.floor(k / SEARCHES.length) % tenants.length];
    return run(t, searchSql(t.tenantId, parsed(t, SEARCHES[k % SEARCHES.length]), null, 100));
  });

  log(`query: the same searches as pure EAV over history, up to ${opts.phaseSeconds * 2} s`);
  let k2 = 0;
  const eav = await sqlPhase(C, opts.phaseSeconds * 2, Infinity, () => {
    const k = k2++;
    const t = tenants[Math.floor(k / SEARCHES.length) % tenants.length];
    return run(t, eavSql(SEARCHES[k % SEARCHES.length], attrsOf(t)));
  });

  const resources = sampler.stop();
  return {
    latest_miss: latestMiss,
    latest_hit: latestHit,
    search,
    timeseries,
    search_sql_projection: projSql,
    search_sql_eav: eav,
    search_speedup_vs_eav: round(eav.p50_ms / projSql.p50_ms, 1),
    search_speedup_vs_eav_p99: round(eav.p99_ms / projSql.p99_ms, 1),
    search_mix: SEARCHES.map((f) => f.map((x) => `${x.attribute} ${x.op} ${JSON.stringify(x.value)}`).join(" AND ")),
    eav_index: "entity_values_ts_bench_eav (tenant_id, attribute_id, entity_id, ts DESC), built for the EAV baseline before the query stage",
    resources,
  };
}

/** The index that gives pure EAV its best shot (per attribute, per entity, newest first). */
export async function createEavIndex(pool: Pool): Promise<number> {
  const t0 = Date.now();
  await pool.query("CREATE INDEX IF NOT EXISTS entity_values_ts_bench_eav ON entity_values_ts (tenant_id, attribute_id, entity_id, ts DESC)");
  await pool.query("ANALYZE entity_values_ts");
  return (Date.now() - t0) / 1000;
}
