/**
 * The query stage's rows of the table and its section of latest.json, under
 * a prefix: `query` for the default run, `scale.query` for --scale. The keys
 * ending in open_* are open-loop figures at 50 % of the endpoint's measured
 * maximum (bench/open-loop.ts); closed-loop figures are kept, labelled
 * `closed_loop`, inside each endpoint.
 */
import type { PassResult, QueryResult } from "./query";
import type { Row } from "./report";

/** Targets of issue 15, per pass (idle and under ingest alike). */
function passRows(p: PassResult | undefined, prefix: string, eavSpeedup: number | undefined): Row[] {
  return [
    { metric: `${prefix}.latest_miss.open_p99_ms`, value: p?.latest_miss.open_p99_ms, unit: "ms", target: "<= 5" },
    { metric: `${prefix}.latest_miss.max_per_sec`, value: p?.latest_miss.max_per_sec, unit: "req/s" },
    { metric: `${prefix}.latest_hit.open_p99_ms`, value: p?.latest_hit.open_p99_ms, unit: "ms", target: "<= 2" },
    { metric: `${prefix}.latest_hit.max_per_sec`, value: p?.latest_hit.max_per_sec, unit: "req/s", target: ">= 5000" },
    { metric: `${prefix}.search.open_p99_ms`, value: p?.search.open_p99_ms, unit: "ms", target: "<= 20" },
    { metric: `${prefix}.search.max_per_sec`, value: p?.search.max_per_sec, unit: "req/s" },
    { metric: `${prefix}.search.api_vs_sql`, value: p?.search.api_vs_sql, unit: "×", target: "<= 1.5" },
    { metric: `${prefix}.search.speedup_vs_eav`, value: eavSpeedup, unit: "×", target: ">= 10" },
    { metric: `${prefix}.timeseries.open_p99_ms`, value: p?.timeseries.open_p99_ms, unit: "ms", target: "<= 20" },
    { metric: `${prefix}.timeseries.max_per_sec`, value: p?.timeseries.max_per_sec, unit: "req/s" },
  ];
}

export function queryRows(q: QueryResult | undefined, prefix: string): Row[] {
  // EAV is measured once, idle (one query at a time: service time, not load).
  return [...passRows(q, prefix, q?.search_speedup_vs_eav), ...passRows(q?.under_ingest, `${prefix}.under_ingest`, q?.search_speedup_vs_eav)];
}

/** The stage's section of latest.json: figures, with speedup_vs_eav beside the search's, and what each means. */
export function querySection(q: QueryResult) {
  const withEav = (p: PassResult) => ({ ...p, search: { ...p.search, speedup_vs_eav: q.search_speedup_vs_eav } });
  return {
    ...withEav(q),
    under_ingest: q.under_ingest ? withEav(q.under_ingest) : undefined,
    definitions: {
      max_per_sec: "closed loop: `concurrency` clients each sending the next request when the last answered, for the phase; answers per second (its latencies are in closed_loop, queueing included)",
      open: "open loop at 50 % of max_per_sec: request i due at start + i/rate, latency from its due time to the end of its answer (no coordinated omission); open_late_sends counts requests the client sent > 5 ms late",
      latest_miss: "GET /v1/entities/{id}, eventual, entities in random order with the cache emptied before each phase (Redis miss → replica → store)",
      latest_hit: "GET /v1/entities/{id}, eventual, a warmed set read repeatedly",
      search: "POST /v1/entities/search, X-Consistency-Level: strong (primary, never the search cache), limit 100, the mix in search_mix",
      api_vs_sql: "search open-loop p50 through the API / open-loop p50 of the API's own statements (searchEntities in withTenant) run straight on a pool at the same offered rate",
      speedup_vs_eav: "p50 of pure EAV over entity_values_ts / p50 of the projection's statements, each one query at a time, both under RLS",
      timeseries: "GET /v1/entities/{id}/timeseries, 1 day of 1-minute points of one attribute, interval=1h agg=avg, eventual",
      under_ingest: "the same, while the ingest API and batch writer (Kafka mode) take 10,000 values/s offered open-loop",
    },
  };
}
