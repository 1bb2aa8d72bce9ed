/** Metrics of the storage step and the writer (Prometheus, app/shared/http/metrics). */
import { counter, gauge, histogram } from "../../shared/http/metrics";

export const storedValues = counter("atlas_ingest_values_stored_total", "Values committed to history (incl. replays that were no-ops)", ["mode"]);
export const storedReadings = counter("atlas_ingest_readings_stored_total", "Readings committed to history", ["mode"]);
export const batchValues = histogram(
  "atlas_writer_batch_values",
  "Values per stored batch",
  ["mode"],
  [10, 100, 500, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000],
);
export const writeSeconds = histogram(
  "atlas_writer_write_seconds",
  "COPY + stage_flush + COMMIT of one batch",
  ["mode"],
  [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
);
export const consumerLag = gauge("atlas_writer_consumer_lag", "Messages not yet committed by the writer group", ["topic"]);
export const dlqMessages = counter("atlas_writer_dlq_messages_total", "Messages sent to the dead-letter topic", ["reason"]);

export function recordStored(values: number, readings: number, startedNs: bigint, mode: "kafka" | "direct"): void {
  storedValues.inc({ mode }, values);
  storedReadings.inc({ mode }, readings);
  batchValues.observe({ mode }, values);
  writeSeconds.observe({ mode }, Number(process.hrtime.bigint() - startedNs) / 1e9);
}
export const stepSeconds = histogram(
  "atlas_writer_step_seconds",
  "Time per step of the storage transaction (copy, flush, commit)",
  ["step"],
  [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
);
