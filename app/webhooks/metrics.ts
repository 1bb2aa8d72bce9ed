/** Metrics of the delivery worker (Prometheus, app/shared/http/metrics; served on the hosting process's /metrics). */
import { counter, gauge, histogram } from "../shared/http/metrics";

/** Per attempt: succeeded, retrying (failed, another attempt scheduled), exhausted (failed, none left), disabled (the endpoint was disabled: 410 or 5 days failing), refused (SSRF guard). */
export const deliveryOutcomes = counter("atlas_webhook_deliveries_total", "Webhook delivery attempts by outcome", ["outcome"]);

/** Commit of the change → the successful send (the processing lag; seeds: target 10-30 s, max 2 min). */
export const processingLag = histogram(
  "atlas_webhook_processing_lag_seconds",
  "Seconds from the commit of a change to the send of its webhook that was accepted",
  [],
  [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 21600, 86400],
);

export const attemptSeconds = histogram(
  "atlas_webhook_attempt_duration_seconds",
  "Duration of one webhook HTTP attempt (connect to response end; 15 s timeout)",
  [],
  [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
);

/** Pending deliveries per endpoint (the largest queues, refreshed every 15 s). */
export const queueDepth = gauge("atlas_webhook_queue_depth", "Pending webhook deliveries per endpoint", ["endpoint_id"]);
