/**
 * Pacing of an import by the tenant's backfill-lane quota: the same
 * RatedBuckets instance POST /v1/telemetry charges its backfill readings to,
 * so imports and live backfill share one quota per tenant and the live lane
 * (its own buckets) keeps its headroom and latency. Where the telemetry route
 * answers 429, an import waits: it holds its upload, and TCP back-pressure
 * slows the client to the quota.
 */
import type { RatedBuckets } from "../../shared/http/rate-limit";

export interface BackfillQuota {
  buckets: RatedBuckets;
  /** Readings per second per tenant. */
  rate: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Takes `readings` tokens from the tenant's backfill bucket, waiting until they accrue; resolves with the ms waited. */
export async function takeBackfill(quota: BackfillQuota, tenantId: string, readings: number): Promise<number> {
  let waited = 0;
  let left = readings;
  while (left > 0) {
    // RatedBuckets charges at most its burst (2× the rate) per take: pieces of
    // one second's worth keep a large chunk from passing at a discount.
    const piece = Math.min(left, quota.rate);
    const waitSeconds = quota.buckets.take(tenantId, quota.rate, piece);
    if (waitSeconds === 0) {
      left -= piece;
      continue;
    }
    const ms = Math.ceil(waitSeconds * 1000);
    await sleep(ms);
    waited += ms;
  }
  return waited;
}
