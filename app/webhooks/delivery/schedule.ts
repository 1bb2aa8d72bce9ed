/**
 * When to try again: Svix's schedule (docs.svix.com/retries), which the issue
 * adopts. Attempt 1 is immediate; after the n-th failure the next attempt
 * waits RETRY_DELAYS_MS[n-1], ±10 % jitter so that many messages failing
 * together do not return together; a Retry-After (seconds or HTTP date) of
 * the receiver is honoured when it asks for longer (capped at a day). After
 * the 8th failure the delivery has failed.
 */
const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Delay before attempt 2, 3, … 8. */
export const RETRY_DELAYS_MS = [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR] as const;
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;
const JITTER = 0.1;
const MAX_RETRY_AFTER_MS = 24 * HOUR;
/** Svix: an endpoint whose every attempt failed for 5 days is disabled. */
export const DISABLE_AFTER_FAILING_MS = 5 * 24 * HOUR;

/** Seconds (`120`) or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | undefined, now: number): number | undefined {
  if (!header) return undefined;
  if (/^\d{1,9}$/.test(header.trim())) return Number(header.trim()) * SECOND;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Milliseconds until the next attempt after `attempts` failed ones, or
 * undefined when none is left. `delays` replaces the schedule (tests).
 */
export function nextDelayMs(
  attempts: number,
  retryAfterMs: number | undefined,
  delays: readonly number[] = RETRY_DELAYS_MS,
  random: () => number = Math.random,
): number | undefined {
  if (attempts < 1 || attempts > delays.length) return undefined;
  const base = delays[attempts - 1];
  const jittered = Math.round(base * (1 + JITTER * (2 * random() - 1)));
  return Math.max(jittered, Math.min(retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
}
