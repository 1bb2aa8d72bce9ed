/**
 * Per-tenant token buckets, so one tenant cannot starve the rest. Each
 * container enforces its own bucket: behind the ALB with N tasks a tenant
 * gets about N× the configured rate, which the autoscaling bounds.
 */
import type { RequestHandler } from "express";
import { AppError } from "./errors";
import { tenantOf } from "./auth";
import { counter } from "./metrics";
import type { TenantSettingsCache } from "../tenant-settings";

export interface RateLimitOptions {
  /** Sustained requests per second of a tenant: one rate for all, or the tenant's own (e.g. its row's override). */
  ratePerSecond: number | ((tenantId: string) => Promise<number>);
  /** Name of the limit, reported in the 429 body. */
  name: string;
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

/** Token buckets of tenants whose rates may differ (a tenant's own rate picks its bucket set). Burst: 2× the rate. */
export class RatedBuckets {
  private readonly byRate = new Map<number, TokenBuckets>();
  take(tenantId: string, rate: number, cost: number): number {
    let b = this.byRate.get(rate);
    if (!b) this.byRate.set(rate, (b = new TokenBuckets(rate, rate * 2)));
    // A single request larger than the burst would never pass: charge at most the burst.
    return b.take(tenantId, Math.min(cost, rate * 2));
  }
}

/** The 429 of a limit: Retry-After in whole seconds, the body naming the limit and its rate. */
export function rateLimitedError(limit: string, rate: number, unit: string, waitSeconds: number): AppError {
  limited.inc({ limit });
  return new AppError(
    429,
    "rate_limited",
    `tenant is over its ${limit} limit of ${rate} ${unit}/s`,
    undefined,
    { limit, rate_per_second: rate },
    Math.max(1, Math.ceil(waitSeconds)),
  );
}

/** Per-tenant request rate, checked before any body is read. */
export function rateLimit(opts: RateLimitOptions): RequestHandler {
  const buckets = new RatedBuckets();
  const rateOf = opts.ratePerSecond;
  return (req, res, next) => {
    const tenantId = tenantOf(res);
    const check = (rate: number) => {
      const wait = buckets.take(tenantId, rate, 1);
      next(wait === 0 ? undefined : rateLimitedError(opts.name, rate, "requests", wait));
    };
    if (typeof rateOf === "number") check(rateOf);
    else rateOf(tenantId).then(check, next);
  };
}

/** A tenant's request rate: its row's rate_limit_rps, else the deployment's default. */
export function tenantRequestRate(settings: TenantSettingsCache, defaultRps: number): (tenantId: string) => Promise<number> {
  return async (tenantId) => (await settings.get(tenantId)).rateLimitRps ?? defaultRps;
}
