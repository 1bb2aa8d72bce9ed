/**
 * An open-loop load: POST number i is due at start + i / postsPerSecond,
 * whatever happened to the earlier ones, so a slow answer does not slow the
 * offer (no coordinated omission). At most `maxInFlight` requests are out at
 * once; a post that cannot be sent on time is sent late and counted as such.
 */
import { sinceMs } from "./stats";

export interface OfferedLoadOptions {
  postsPerSecond: number;
  seconds: number;
  maxInFlight: number;
  /** Sends post i; resolves with the values it got accepted (0 when refused). */
  send: (i: number, dueNs: bigint) => Promise<number>;
  /** Ends the offer early when it returns true (checked before each post). */
  stopped?: () => boolean;
}

export interface OfferedLoadResult {
  posts: number;
  accepted_values: number;
  seconds: number;
  /** Posts sent more than 100 ms after their due time (the client could not keep the offer). */
  late_posts: number;
}

export async function offerLoad(opts: OfferedLoadOptions): Promise<OfferedLoadResult> {
  const start = process.hrtime.bigint();
  const total = Math.floor(opts.postsPerSecond * opts.seconds);
  const intervalNs = 1e9 / opts.postsPerSecond;
  let next = 0;
  let accepted = 0;
  let late = 0;
  const worker = async () => {
    while (next < total && !opts.stopped?.()) {
      const i = next++;
      const due = start + BigInt(Math.round(i * intervalNs));
      const waitMs = Number(due - process.hrtime.bigint()) / 1e6;
      if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
      else if (waitMs < -100) late++;
      if (opts.stopped?.()) break;
      accepted += await opts.send(i, due);
    }
  };
  await Promise.all(Array.from({ length: opts.maxInFlight }, worker));
  return { posts: Math.min(total, next), accepted_values: accepted, seconds: sinceMs(start) / 1000, late_posts: late };
}
