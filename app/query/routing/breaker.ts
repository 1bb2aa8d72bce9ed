/**
 * A circuit breaker per replica: after `failureThreshold` consecutive
 * failures it opens (the replica gets no reads); after `cooldownMs` it turns
 * half-open and lets exactly one probe through, whose outcome closes it again
 * or re-opens it for another cool-down.
 *
 * In this service the probe is the background lag measurement, never a
 * client's request: requests only go to replicas whose breaker is closed, so
 * no client pays for finding out whether a replica came back.
 *
 * Defaults (5 failures, 60 s) are the seed's ("After 5 consecutive failures,
 * stop trying replicas for 60 seconds", seeds/000 §3).
 */
export type BreakerState = "closed" | "open" | "half_open";

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. Defaults to 5. */
  failureThreshold?: number;
  /** Time the breaker stays open before one probe is allowed, ms. Defaults to 60 s. */
  cooldownMs?: number;
}

export class CircuitBreaker {
  private _state: BreakerState = "closed";
  private failures = 0;
  private openedAt = 0;
  private probeInFlight = false;
  readonly failureThreshold: number;
  readonly cooldownMs: number;

  constructor(opts: BreakerOptions = {}) {
    this.failureThreshold = opts.failureThreshold ?? 5;
    this.cooldownMs = opts.cooldownMs ?? 60_000;
  }

  /** The state as of `now` (an open breaker past its cool-down reads as half-open). */
  state(now = Date.now()): BreakerState {
    if (this._state === "open" && now - this.openedAt >= this.cooldownMs) return "half_open";
    return this._state;
  }

  /** True when requests may use the replica: only a closed breaker lets them through. */
  isClosed(now = Date.now()): boolean {
    return this.state(now) === "closed";
  }

  /**
   * Asks to send one call. Closed: always yes. Open: no, until the cool-down
   * has passed; then yes for exactly one caller (the half-open probe) until
   * that probe reports back.
   */
  tryAcquire(now = Date.now()): boolean {
    const state = this.state(now);
    if (state === "closed") return true;
    if (state === "open") return false;
    if (this.probeInFlight) return false;
    this._state = "half_open";
    this.probeInFlight = true;
    return true;
  }

  onSuccess(): void {
    this._state = "closed";
    this.failures = 0;
    this.probeInFlight = false;
  }

  onFailure(now = Date.now()): void {
    this.probeInFlight = false;
    if (this._state === "half_open") {
      this.open(now);
      return;
    }
    if (this._state === "open") return;
    this.failures += 1;
    if (this.failures >= this.failureThreshold) this.open(now);
  }

  /** Consecutive failures counted while closed. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  private open(now: number): void {
    this._state = "open";
    this.openedAt = now;
  }
}

/** Gauge encoding of the state: 0 closed, 1 half-open, 2 open. */
export const breakerStateValue = (s: BreakerState): number => (s === "closed" ? 0 : s === "half_open" ? 1 : 2);
