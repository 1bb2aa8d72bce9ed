/** The query service's own metrics (the shared registry serves them at /metrics). */
import { counter, gauge, histogram } from "../shared/http/metrics";

export const queryDuration = histogram(
  "atlas_query_duration_seconds",
  "Query latency by endpoint and the source that answered (primary, replica-<n>, cache, warehouse)",
  ["endpoint", "source"],
  [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
);

/** hit / (hit + miss) is the cache hit ratio; bypass counts reads that skipped the cache. */
export const cacheLookups = counter("atlas_query_cache_total", "Cache lookups by endpoint and status (hit, miss, bypass)", [
  "endpoint",
  "status",
]);

export const replicaLag = gauge("atlas_replica_lag_seconds", "Measured replication lag per replica (-1: unknown)", ["replica"]);

export const breakerState = gauge("atlas_replica_breaker_state", "Circuit breaker per replica: 0 closed, 1 half-open, 2 open", [
  "replica",
]);

export const replicaFallbacks = counter(
  "atlas_query_replica_fallbacks_total",
  "Eventual reads answered by the primary, by reason (no_replica_within_budget, replica_error)",
  ["reason"],
);
