/**
 * The delivery worker: claims the deliveries that may go now (queue.ts),
 * signs and sends each one (sign.ts, send.ts), and records the outcome with
 * the retry schedule (schedule.ts). Runs in the batch writer's process (and
 * in `npm start`); several tasks may run it at once (leases). Polls every
 * `pollMs`, and at once after a send completes, so an entity's next event
 * follows its previous one without waiting for the poll.
 */
import type { Pool } from "../../shared/db";
import { log } from "../../shared/log";
import { messageBody } from "../events/payload";
import { attemptSeconds, deliveryOutcomes, processingLag, queueDepth } from "../metrics";
import { SecretBox } from "../registry/secret-box";
import { claimDeliveries, queueDepths, recordAttempt, type ClaimedDelivery, type EndpointTarget, type Verdict } from "./queue";
import { DISABLE_AFTER_FAILING_MS, nextDelayMs, parseRetryAfter, RETRY_DELAYS_MS } from "./schedule";
import { sendAttempt, SEND_TIMEOUT_MS } from "./send";
import { signatureHeader } from "./sign";
import { LagReport } from "./lag-report";

export interface WorkerOptions {
  pool: Pool;
  secretKey: string;
  allowPrivateTargets: boolean;
  /** Requests in flight per endpoint. Defaults to 4. */
  maxInFlightPerEndpoint?: number;
  /** Requests in flight in all. Defaults to 64. */
  maxInFlight?: number;
  /** Defaults to 250 ms. */
  pollMs?: number;
  /** Replaces the retry schedule (tests). Defaults to RETRY_DELAYS_MS. */
  retryDelaysMs?: readonly number[];
  /** Defaults to 15 s. */
  timeoutMs?: number;
  /** Defaults to 5 days. */
  disableAfterFailingMs?: number;
}

export class DeliveryWorker {
  private readonly box: SecretBox;
  private readonly inFlight = new Map<string, number>();
  private total = 0;
  private running = false;
  private ticking = false;
  private again = false;
  private timers: NodeJS.Timeout[] = [];
  private readonly sends = new Set<Promise<void>>();
  private readonly lagReport = new LagReport();

  constructor(private readonly opts: WorkerOptions) {
    this.box = new SecretBox(opts.secretKey);
  }

  start(): void {
    this.running = true;
    this.timers.push(setInterval(() => this.kick(), this.opts.pollMs ?? 250));
    this.timers.push(setInterval(() => void this.measureDepth(), 15_000));
    this.timers.push(setInterval(() => this.lagReport.flush(), 60_000));
    for (const t of this.timers) t.unref();
    this.kick();
    log.info("webhook delivery worker started", { max_in_flight_per_endpoint: this.perEndpoint });
  }

  /** Stops claiming; waits for the sends in flight (each ends within the timeout). */
  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await Promise.allSettled([...this.sends]);
  }

  private get perEndpoint(): number {
    return this.opts.maxInFlightPerEndpoint ?? 4;
  }

  private kick(): void {
    if (!this.running) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    this.tick()
      .catch((err) => log.warn("webhook claim failed", { error: err }))
      .finally(() => {
        this.ticking = false;
        if (this.again) (this.again = false), this.kick();
      });
  }

  private async tick(): Promise<void> {
    const room = (this.opts.maxInFlight ?? 64) - this.total;
    if (room <= 0) return;
    const { deliveries, endpoints } = await claimDeliveries(this.opts.pool, {
      busy: this.inFlight,
      maxPerEndpoint: this.perEndpoint,
      limit: room,
      // Longer than one attempt can take, so a live task's lease never expires under it.
      leaseSeconds: Math.ceil((this.opts.timeoutMs ?? SEND_TIMEOUT_MS) / 1000) * 4,
    });
    for (const d of deliveries) {
      const endpoint = endpoints.get(d.endpoint_id);
      if (!endpoint) continue; // deleted meanwhile: its deliveries went with it
      this.inFlight.set(d.endpoint_id, (this.inFlight.get(d.endpoint_id) ?? 0) + 1);
      this.total++;
      const p = this.deliver(d, endpoint)
        .catch((err) => log.warn("webhook delivery not recorded; it is sent again when its lease expires", { delivery_id: d.delivery_id, error: err }))
        .finally(() => {
          const n = (this.inFlight.get(d.endpoint_id) ?? 1) - 1;
          if (n <= 0) this.inFlight.delete(d.endpoint_id);
          else this.inFlight.set(d.endpoint_id, n);
          this.total--;
          this.sends.delete(p);
          this.kick();
        });
      this.sends.add(p);
    }
  }

  private secretsOf(e: EndpointTarget): string[] {
    const secrets = [this.box.open(e.secret_sealed, e.endpoint_id)];
    if (e.previous_secret_sealed && e.previous_valid) secrets.push(this.box.open(e.previous_secret_sealed, e.endpoint_id));
    return secrets;
  }

  private async deliver(d: ClaimedDelivery, e: EndpointTarget): Promise<void> {
    const sentAt = Date.now();
    const message = messageBody(d.event_type, d.data, d.committed_at, sentAt);
    const body = JSON.stringify(message);
    const timestamp = Math.floor(sentAt / 1000);
    const headers = {
      "webhook-id": d.delivery_id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": signatureHeader(this.secretsOf(e), d.delivery_id, timestamp, body),
      "x-event-timestamp": message.data.committed_at,
      "x-processing-lag-seconds": message.data.lag_seconds.toFixed(3),
    };
    const result = await sendAttempt(e.url, headers, body, { allowPrivate: this.opts.allowPrivateTargets, timeoutMs: this.opts.timeoutMs });
    attemptSeconds.observe(result.latencyMs / 1000);
    const verdict = this.verdict(d, result.status, parseRetryAfter(result.retryAfter, Date.now()));
    const disabled = await recordAttempt(this.opts.pool, d, result, verdict, this.opts.disableAfterFailingMs ?? DISABLE_AFTER_FAILING_MS);
    if (verdict.kind === "succeeded") {
      processingLag.observe(message.data.lag_seconds);
      this.lagReport.add(message.data.lag_seconds);
    }
    deliveryOutcomes.inc({ outcome: disabled ? "disabled" : result.refused ? "refused" : verdict.kind === "gone" ? "disabled" : verdict.kind === "retry" ? "retrying" : verdict.kind });
    if (disabled) log.warn("webhook endpoint disabled", { endpoint_id: d.endpoint_id, tenant_id: d.tenant_id, status: result.status });
  }

  private verdict(d: ClaimedDelivery, status: number | undefined, retryAfterMs: number | undefined): Verdict {
    if (status !== undefined && status >= 200 && status < 300) return { kind: "succeeded" };
    if (status === 410) return { kind: "gone" };
    const delayMs = nextDelayMs(d.attempts + 1, retryAfterMs, this.opts.retryDelaysMs ?? RETRY_DELAYS_MS);
    return delayMs === undefined ? { kind: "exhausted" } : { kind: "retry", delayMs };
  }

  private async measureDepth(): Promise<void> {
    try {
      const rows = await queueDepths(this.opts.pool);
      queueDepth.reset();
      for (const r of rows) queueDepth.set({ endpoint_id: r.endpoint_id }, r.n);
    } catch (err) {
      log.debug("webhook queue depth not measured", { error: err });
    }
  }
}
