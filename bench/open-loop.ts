/**
 * Latency the way wrk2 and HdrHistogram's authors measure it: an open loop.
 *
 * Request i is due at start + i / rate, whatever happened to the earlier
 * ones, and its latency counts from that due time to the end of its answer.
 * A closed loop (N workers, each sending when the previous answer came) sends
 * less while the system is slow, so the slow moments are sampled less and the
 * percentiles hide them (coordinated omission); on a saturated machine it
 * measures queueing in the client. Here a stall shows up in every request
 * that was due during it.
 *
 * How to read the result: first an endpoint's maximum throughput (closedLoop
 * at a concurrency that saturates it), then openLoop at a fraction of it
 * (the bench uses 50 %), where the percentiles say what a caller waits.
 */
import { percentile, round, sinceMs } from "./stats";

export interface Outcome {
  /** HTTP status, or 0 when the request failed without one. */
  status: number;
}

export interface LoadSummary {
  count: number;
  errors: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  /** Answers per second over the run (for a closed loop: its throughput). */
  per_sec: number;
}

export interface OpenLoopResult extends LoadSummary {
  offered_per_sec: number;
  /** Requests sent more than 5 ms after their due time: the client (not the server) fell behind. */
  late_sends: number;
}

function summarizeLoad(latMs: number[], errors: number, wallMs: number): LoadSummary {
  const s = [...latMs].sort((a, b) => a - b);
  return {
    count: s.length,
    errors,
    p50_ms: round(percentile(s, 0.5)),
    p99_ms: round(percentile(s, 0.99)),
    p999_ms: round(percentile(s, 0.999)),
    max_ms: round(s.length ? s[s.length - 1] : NaN),
    per_sec: round((s.length / wallMs) * 1000, 1),
  };
}

const ok = (o: Outcome) => o.status >= 200 && o.status < 300;

/**
 * Offers `send(i)` at `ratePerSec` for `seconds` (or until `send` returns
 * null: the generator ran out). At most `maxInFlight` requests are out; one
 * that has to wait for a slot still counts its latency from its due time.
 */
export async function openLoop(
  ratePerSec: number,
  seconds: number,
  send: (i: number) => Promise<Outcome> | null,
  maxInFlight = 512,
): Promise<OpenLoopResult> {
  const total = Math.max(1, Math.floor(ratePerSec * seconds));
  const intervalNs = 1e9 / ratePerSec;
  const lat: number[] = [];
  let errors = 0;
  let late = 0;
  let inFlight = 0;
  let next = 0;
  let exhausted = false;
  const start = process.hrtime.bigint();
  let wake: (() => void) | null = null;
  const settle = () => {
    inFlight--;
    wake?.();
  };
  while (next < total && !exhausted) {
    const now = process.hrtime.bigint();
    // Everything due by now goes out (up to the in-flight cap).
    while (next < total && inFlight < maxInFlight) {
      const due = start + BigInt(Math.round(next * intervalNs));
      if (due > now) break;
      const p = send(next);
      if (p === null) {
        exhausted = true;
        break;
      }
      if (Number(now - due) > 5e6) late++;
      next++;
      inFlight++;
      p.then(
        (o) => {
          if (ok(o)) lat.push(sinceMs(due));
          else errors++;
        },
        () => errors++,
      ).finally(settle);
    }
    if (exhausted || next >= total) break;
    const due = start + BigInt(Math.round(next * intervalNs));
    const waitMs = Number(due - process.hrtime.bigint()) / 1e6;
    if (inFlight >= maxInFlight) await new Promise<void>((r) => (wake = r));
    else if (waitMs >= 1) await new Promise((r) => setTimeout(r, Math.floor(waitMs)));
    else await new Promise((r) => setImmediate(r));
    wake = null;
  }
  while (inFlight > 0) await new Promise<void>((r) => (wake = r));
  const wall = sinceMs(start);
  return { ...summarizeLoad(lat, errors, wall), offered_per_sec: round(ratePerSec, 1), late_sends: late };
}

/**
 * `concurrency` workers, each sending the next request when its previous one
 * answered, for `seconds` (or until `send` returns null). Its throughput is
 * the endpoint's maximum at that concurrency; its latencies are closed-loop
 * figures (queueing included), reported as such.
 */
export async function closedLoop(concurrency: number, seconds: number, send: (i: number) => Promise<Outcome> | null): Promise<LoadSummary> {
  const lat: number[] = [];
  let errors = 0;
  let next = 0;
  const start = process.hrtime.bigint();
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        const p = send(next++);
        if (p === null) return;
        const t0 = process.hrtime.bigint();
        try {
          if (ok(await p)) lat.push(sinceMs(t0));
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  return summarizeLoad(lat, errors, sinceMs(start));
}
