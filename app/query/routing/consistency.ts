/** The request's consistency level and lag budget, from its headers. */
import { badRequest } from "../../shared/http/errors";

export const CONSISTENCY_LEVELS = ["strong", "eventual", "analytics"] as const;
export type ConsistencyLevel = (typeof CONSISTENCY_LEVELS)[number];

/** Largest lag budget a caller may ask for: one day. */
export const MAX_LAG_BUDGET_SECONDS = 86_400;

export interface ReadPolicy {
  level: ConsistencyLevel;
  /** Lag accepted from a replica, seconds. */
  maxLagSeconds: number;
}

/**
 * `X-Consistency-Level: strong | eventual | analytics` (default eventual),
 * `X-Max-Lag-Seconds: <number 0..86400>` (default `defaultMaxLag`).
 * Anything else is a 400 naming the header.
 */
export function parseReadPolicy(
  headers: Record<string, string | string[] | undefined>,
  defaultMaxLag: number,
): ReadPolicy {
  const rawLevel = headers["x-consistency-level"];
  let level: ConsistencyLevel = "eventual";
  if (rawLevel !== undefined) {
    const v = (Array.isArray(rawLevel) ? rawLevel.join(",") : rawLevel).trim().toLowerCase();
    if (!(CONSISTENCY_LEVELS as readonly string[]).includes(v)) {
      throw badRequest("invalid_header", "X-Consistency-Level must be one of strong, eventual, analytics", "X-Consistency-Level");
    }
    level = v as ConsistencyLevel;
  }
  const rawLag = headers["x-max-lag-seconds"];
  let maxLagSeconds = defaultMaxLag;
  if (rawLag !== undefined) {
    const v = (Array.isArray(rawLag) ? rawLag.join(",") : rawLag).trim();
    const n = /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
    if (!Number.isFinite(n) || n > MAX_LAG_BUDGET_SECONDS) {
      throw badRequest(
        "invalid_header",
        `X-Max-Lag-Seconds must be a number of seconds from 0 to ${MAX_LAG_BUDGET_SECONDS}`,
        "X-Max-Lag-Seconds",
      );
    }
    maxLagSeconds = n;
  }
  return { level, maxLagSeconds };
}
