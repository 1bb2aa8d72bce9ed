/**
 * Per-tenant token buckets, so one tenant cannot starve the rest. Each
 * container enforces its own bucket: behind the ALB with N tasks a tenant
 * gets about N× the configured rate, which the autoscaling bounds.
 */
import type { RequestHandler } from "express";
import { AppError } from "./errors";
import { tenantOf } from "./auth";
import { counter } from "./metrics";

export interface RateLimitOptions {
  /** Sustained requests per second per tenant. */
  ratePerSecond: number;
  /** Burst size. Defaults to 2× the rate. */
  burst?: number;
  /** Name of the limit, reported in the 429 body. */
  name: string;
  /** Weight of one request (e.g. readings in an ingest batch). Defaults to 1. */
  cost?: (req: Parameters<RequestHandler>[0]) => number;
}

const limited = counter("atlas_rate_limited_total", "Requests refused by a per-tenant rate limit", ["limit"]);

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly rate: number, private readonly burst: number) {}

  /** Takes `cost` tokens; returns 0 when allowed, else the seconds until enough accrue. */
  take(key: string, cost = 1, now = Date.now()): number {
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.rate);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return 0;
    }
    return (cost - b.tokens) / this.rate;
  }
}

export function rateLimit(opts: RateLimitOptions): RequestHandler {
  const buckets = new TokenBuckets(opts.ratePerSecond, opts.burst ?? opts.ratePerSecond * 2);
  return (req, res, next) => {
    const wait = buckets.take(tenantOf(res), opts.cost ? opts.cost(req) : 1);
    if (wait === 0) return next();
    limited.inc({ limit: opts.name });
    next(
      new AppError(
        429,
        "rate_limited",
        `tenant is over its ${opts.name} limit of ${opts.ratePerSecond}/s`,
        undefined,
        { limit: opts.name, rate_per_second: opts.ratePerSecond },
        Math.max(1, Math.ceil(wait)),
      ),
    );
  };
}
