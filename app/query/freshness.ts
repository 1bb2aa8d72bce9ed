/**
 * Freshness on every query answer (the contract): response headers
 * X-Data-Source, X-Data-Lag-Seconds, X-Consistency-Level, X-Cache-Status,
 * X-Query-Duration-Ms, X-Data-As-Of, and the same in the body's `_metadata`.
 * X-Data-As-Of (ISO-8601) is the time up to which the answer is complete:
 * for the warehouse the primary commit time it has loaded up to (what a
 * report's "Data as of" shows), for the OLTP sources now minus the lag.
 */
import type { Response } from "express";
import type { CacheStatus } from "../shared/cache/entity-cache";
import type { ConsistencyLevel } from "./routing/consistency";

export interface Freshness {
  /** `primary`, `replica-<n>`, `cache` or `warehouse`. */
  source: string;
  /** The lag of the source that answered, seconds. */
  lagSeconds: number;
  consistency: ConsistencyLevel;
  cacheStatus: CacheStatus;
  /** Complete up to this primary commit time (the warehouse's watermark). */
  asOf?: Date;
}

export interface FreshnessMetadata {
  source: string;
  lag_seconds: number;
  consistency: ConsistencyLevel;
  cache_status: CacheStatus;
  query_ms: number;
  /** ISO-8601: the answer is complete up to this time. */
  as_of: string;
}

/** Lag to the millisecond: finer would be noise, coarser hides sub-second replica lag. */
const roundLag = (s: number) => Math.round(Math.max(0, s) * 1000) / 1000;

/** Sets the headers and returns the `_metadata` object for the body. */
export function applyFreshness(res: Response, f: Freshness, startedAtNs: bigint): FreshnessMetadata {
  const queryMs = Math.round(Number(process.hrtime.bigint() - startedAtNs) / 1e4) / 100;
  const lag = roundLag(f.lagSeconds);
  res.setHeader("X-Data-Source", f.source);
  res.setHeader("X-Data-Lag-Seconds", String(lag));
  res.setHeader("X-Consistency-Level", f.consistency);
  res.setHeader("X-Cache-Status", f.cacheStatus);
  res.setHeader("X-Query-Duration-Ms", String(queryMs));
  // Complete up to: the warehouse's watermark where there is one, else now
  // minus the reported lag (what a replica or cache entry had applied by then).
  const asOf = (f.asOf ?? new Date(Date.now() - lag * 1000)).toISOString();
  res.setHeader("X-Data-As-Of", asOf);
  return { source: f.source, lag_seconds: lag, consistency: f.consistency, cache_status: f.cacheStatus, query_ms: queryMs, as_of: asOf };
}
