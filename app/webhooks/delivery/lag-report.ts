/**
 * Once a minute, one log line with the p95 processing lag of the deliveries
 * of that minute: CloudWatch's log metric filter turns it into the
 * WebhookProcessingLagP95Seconds datapoint its alarm watches
 * (infra/monitoring/thresholds.ts). One line a minute, not one per
 * delivery: log ingestion is paid per byte.
 */
import { log } from "../../shared/log";

export const LAG_REPORT_LOG = "webhook processing lag";
/** Samples kept per minute; past it every other one is dropped (the p95 of a halved sample stays unbiased). */
const MAX_SAMPLES = 10_000;

export class LagReport {
  private samples: number[] = [];
  private seen = 0;

  add(lagSeconds: number): void {
    this.seen++;
    if (this.samples.length >= MAX_SAMPLES) this.samples = this.samples.filter((_, i) => i % 2 === 0);
    this.samples.push(lagSeconds);
  }

  /** The p95 of the samples, or undefined when there are none. */
  static p95(samples: number[]): number | undefined {
    if (samples.length === 0) return undefined;
    const sorted = [...samples].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)];
  }

  flush(): void {
    const p95 = LagReport.p95(this.samples);
    if (p95 !== undefined) log.info(LAG_REPORT_LOG, { p95_seconds: p95, deliveries: this.seen });
    this.samples = [];
    this.seen = 0;
  }
}
