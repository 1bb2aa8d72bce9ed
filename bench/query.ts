/**
 * Query: for each endpoint, its maximum throughput (a closed loop at the
 * bench's concurrency), then open-loop latency at 50 % of that maximum
 * (bench/open-loop.ts: requests on a fixed schedule, latency from each one's
 * due time), on an idle stack and again while ingest runs at 10,000 values/s:
 *  - latest values, cache miss (eventual: Redis miss → replica → store) and
 *    cache hit (a small warmed set read over and over);
 *  - hot-attribute searches (eq / in / range mix) through the API, strong
 *    consistency so the search cache cannot answer (every one is a query);
 *  - time series: a day of 1-minute points aggregated to 1 h averages;
 * and, in the same run, the same searches as SQL: the statements the API
 * runs (app/query/sql/search searchEntities) straight on a pool at the same
 * offered rate (api_vs_sql), and one at a time against pure EAV over the
 * history (latest value per entity and attribute from entity_values_ts),
 * both under the tenant's row-level security (speedup_vs_eav).
 */
import type { Pool } from "pg";
import { Redis } from "ioredis";
import { withTenant } from "../app/shared/db";
import { entityKey } from "../app/shared/cache/entity-cache";
import { searchEntities } from "../app/query/sql/search";
import type { ParsedFilter } from "../app/query/search/filters";
import type { DataType } from "../app/query/catalog";
import type { BenchTenant } from "./db";
import { COMMON, Rng, type Workload } from "./generate";
import { benchClient, type BenchRequest } from "./http-client";
import type { IngestLoad, IngestLoadReport } from "./ingest-load";
import { closedLoop, openLoop, type LoadSummary, type Outcome } from "./open-loop";
import type { Service } from "./services";
import { ResourceSampler, round, type ProcessGroup, type ResourceReport } from "./stats";

export interface QueryOptions {
  /** Closed-loop clients that find an endpoint's maximum. */
  concurrency: number;
  /** Seconds per measured phase (each endpoint has two: maximum, then open loop). */
  phaseSeconds: number;
  /** Entities per tenant with a seeded day of points, and that day's start. */
  tsEntities: number;
  tsDayStartMs: number;
  redisUrl: string;
  /** Starts ingest as background load for the second pass; omitted: idle pass only. */
  startIngest?: () => Promise<IngestLoad>;
  log: (s: string) => void;
}

/** One endpoint: its maximum (closed loop), then the open loop at half of it. */
export interface EndpointResult {
  max_per_sec: number;
  open_offered_per_sec: number;
  open_p50_ms: number;
  open_p99_ms: number;
  open_p999_ms: number;
  open_max_ms: number;
  open_count: number;
  open_errors: number;
  /** Requests the client sent more than 5 ms late: above a few, the figures are the client's. */
  open_late_sends: number;
  closed_loop: LoadSummary & { concurrency: number };
}

export interface SearchResult extends EndpointResult {
  /** API open-loop p50 / the same statements' p50 as SQL, at the same offered rate. */
  api_vs_sql: number;
  api_vs_sql_p99: number;
  sql: EndpointResult;
}

export interface PassResult {
  latest_miss: EndpointResult;
  latest_hit: EndpointResult;
  search: SearchResult;
  timeseries: EndpointResult;
  sources: Record<string, number>;
}

export interface QueryResult extends PassResult {
  /** p50 of pure EAV / p50 of the projection's statements, each run one at a time. */
  search_speedup_vs_eav: number;
  search_sql_one_at_a_time: LoadSummary;
  search_eav_one_at_a_time: LoadSummary;
  search_mix: string[];
  eav_index: string;
  under_ingest?: PassResult & { ingest: IngestLoadReport };
  resources: ResourceReport;
}

type Send = (i: number) => Promise<Outcome> | null;

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
  const rng = new Rng(4242);
  const sampler = new ResourceSampler(groups);
  sampler.start();
  const client = benchClient(query.url, 4 * opts.concurrency);
  const redis = new Redis(opts.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    // Misses: every entity in a random order, wrapping; the cache is emptied
    // before each phase, so a wrapped read is a miss too.
    const perTenant = w.entitiesPerTenant;
    const order = Array.from({ length: perTenant * tenants.length }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    // The hit set is kept out of the misses, so they never warm it.
    const hitSet = order.splice(0, Math.min(200 * tenants.length, Math.floor(order.length / 10)));
    const entityPath = (i: number): BenchRequest => {
      const t = tenants[i % tenants.length];
      return { path: `/v1/entities/${1 + Math.floor(i / tenants.length)}`, key: t.apiKey };
    };
    const emptyCache = () => Promise.all(tenants.map((t) => deleteByPrefix(redis, entityKey(t.tenantId, ""))));

    const from = new Date(opts.tsDayStartMs).toISOString();
    const to = new Date(opts.tsDayStartMs + 86_400_000).toISOString();
    const sources: Record<string, number> = {};
    const http = (r: BenchRequest) =>
      client.send(r).then((a) => {
        sources[a.source] = (sources[a.source] ?? 0) + 1;
        return a;
      });
    const searchRequest = (k: number): BenchRequest => ({
      path: "/v1/entities/search",
      method: "POST",
      body: JSON.stringify({ filters: SEARCHES[k % SEARCHES.length], limit: 100 }),
      headers: { "x-consistency-level": "strong" },
      key: tenants[Math.floor(k / SEARCHES.length) % tenants.length].apiKey,
    });

    // The same searches as the API's own statements, straight on the primary.
    const attrsOf = (t: BenchTenant) => new Map(COMMON.map((c, i) => [c.name, { id: t.attributeIds[i], type: c.type as DataType }]));
    const parsed = (t: BenchTenant, filters: Filter[]): ParsedFilter[] =>
      filters.map((f) => {
        const a = attrsOf(t).get(f.attribute)!;
        return {
          attribute: { name: f.attribute, attributeId: a.id, dataType: a.type, isHot: true },
          op: f.op,
          values: Array.isArray(f.value) ? (f.value as ParsedFilter["values"]) : [f.value as ParsedFilter["values"][number]],
        };
      });
    const tenantOf = (k: number) => tenants[Math.floor(k / SEARCHES.length) % tenants.length];
    const sqlSearch: Send = (k) => {
      const t = tenantOf(k);
      const filters = parsed(t, SEARCHES[k % SEARCHES.length]);
      return withTenant(pool, t.tenantId, (c) => searchEntities(c, t.tenantId, filters, null, 100), { readOnly: true }).then(() => ({ status: 200 }));
    };

    const pass = async (label: string): Promise<PassResult> => {
      const measure = async (name: string, send: Send, before?: () => Promise<unknown>): Promise<EndpointResult> => {
        await before?.();
        log(`query${label}: ${name}, maximum (closed loop, ${opts.concurrency} clients, ${opts.phaseSeconds} s)`);
        const closed = await closedLoop(opts.concurrency, opts.phaseSeconds, send);
        await before?.();
        const rate = Math.max(1, closed.per_sec / 2);
        log(`query${label}: ${name}, open loop at ${round(rate, 1)}/s (50 % of ${closed.per_sec}/s), ${opts.phaseSeconds} s`);
        return endpointResult(closed, opts.concurrency, await openLoop(rate, opts.phaseSeconds, send));
      };
      let m = 0;
      const latestMiss = await measure("latest (cache miss)", () => http(entityPath(order[m++ % order.length])), emptyCache);
      // Warm the hit set, then read it over and over.
      for (const i of hitSet) await http(entityPath(i));
      const latestHit = await measure("latest (cache hit)", () => http(entityPath(hitSet[rng.int(hitSet.length)])));
      const search = await measure("search (API, strong)", (k) => http(searchRequest(k)));
      log(`query${label}: the same searches as SQL at the API's offered rate, ${opts.phaseSeconds} s`);
      const sqlClosed = await closedLoop(opts.concurrency, opts.phaseSeconds, sqlSearch);
      const sqlOpen = await openLoop(search.open_offered_per_sec, opts.phaseSeconds, sqlSearch);
      const sql = endpointResult(sqlClosed, opts.concurrency, sqlOpen);
      const timeseries = await measure("time series (1 day, 1 h avg)", () => {
        const t = tenants[rng.int(tenants.length)];
        const e = 1 + rng.int(opts.tsEntities);
        return http({ path: `/v1/entities/${e}/timeseries?attributes=battery&from=${from}&to=${to}&interval=1h&agg=avg`, key: t.apiKey });
      });
      return {
        latest_miss: latestMiss,
        latest_hit: latestHit,
        search: { ...search, api_vs_sql: round(search.open_p50_ms / sql.open_p50_ms, 2), api_vs_sql_p99: round(search.open_p99_ms / sql.open_p99_ms, 2), sql },
        timeseries,
        sources: { ...sources },
      };
    };

    const idle = await pass("");

    // Service time of the projection against pure EAV: one query at a time, so
    // neither measures queueing.
    log(`query: the searches as SQL one at a time, ${opts.phaseSeconds} s`);
    const sqlOne = await closedLoop(1, opts.phaseSeconds, sqlSearch);
    log(`query: the same searches as pure EAV over history, one at a time, ${opts.phaseSeconds * 2} s`);
    const eavOne = await closedLoop(1, opts.phaseSeconds * 2, (k) => {
      const t = tenantOf(k);
      const q = eavSql(SEARCHES[k % SEARCHES.length], attrsOf(t));
      return withTenant(pool, t.tenantId, (c) => c.query(q.text, q.params), { readOnly: true }).then(() => ({ status: 200 }));
    });

    let underIngest: QueryResult["under_ingest"];
    if (opts.startIngest) {
      log("query: starting ingest as background load");
      const load = await opts.startIngest();
      try {
        for (const k of Object.keys(sources)) delete sources[k];
        const measured = await pass(" under ingest");
        underIngest = { ...measured, ingest: await load.stop() };
      } catch (err) {
        await load.stop().catch(() => undefined);
        throw err;
      }
    }

    return {
      ...idle,
      search_speedup_vs_eav: round(eavOne.p50_ms / sqlOne.p50_ms, 1),
      search_sql_one_at_a_time: sqlOne,
      search_eav_one_at_a_time: eavOne,
      search_mix: SEARCHES.map((f) => f.map((x) => `${x.attribute} ${x.op} ${JSON.stringify(x.value)}`).join(" AND ")),
      eav_index: "entity_values_ts_bench_eav (tenant_id, attribute_id, entity_id, ts DESC), built for the EAV baseline before the query stage",
      under_ingest: underIngest,
      resources: sampler.stop(),
    };
  } finally {
    sampler.stop();
    await client.close();
    redis.disconnect();
  }
}

function endpointResult(closed: LoadSummary, concurrency: number, open: Awaited<ReturnType<typeof openLoop>>): EndpointResult {
  return {
    max_per_sec: closed.per_sec,
    open_offered_per_sec: open.offered_per_sec,
    open_p50_ms: open.p50_ms,
    open_p99_ms: open.p99_ms,
    open_p999_ms: open.p999_ms,
    open_max_ms: open.max_ms,
    open_count: open.count,
    open_errors: open.errors,
    open_late_sends: open.late_sends,
    closed_loop: { ...closed, concurrency },
  };
}

/** Deletes the keys under a prefix (SCAN, never KEYS: the server stays responsive). */
async function deleteByPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    if (keys.length) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== "0");
}

/** The index that gives pure EAV its best shot (per attribute, per entity, newest first). */
export async function createEavIndex(pool: Pool): Promise<number> {
  const t0 = Date.now();
  await pool.query("CREATE INDEX IF NOT EXISTS entity_values_ts_bench_eav ON entity_values_ts (tenant_id, attribute_id, entity_id, ts DESC)");
  await pool.query("ANALYZE entity_values_ts");
  return (Date.now() - t0) / 1000;
}
