/**
 * Replica lag, computed from what the background loop samples each second.
 *
 * Why not just `now() - pg_last_xact_replay_timestamp()`: that is the time
 * since the last transaction the replica replayed. On an idle primary nothing
 * commits, so it grows forever although the replica is fully current. So we
 * combine two upper bounds on "how old is the replica's view" and take the
 * smaller one:
 *
 *  1. Position (no clocks involved): before probing the replicas, the loop
 *     reads the primary's `pg_current_wal_lsn()` and keeps a short history of
 *     (read at, lsn). If the replica's `pg_last_wal_replay_lsn()` is at or past
 *     the position read just before the probe, the replica had everything the
 *     primary had then: lag 0 (an idle primary is not lag). If it is behind,
 *     the newest history sample it has reached bounds its view: lag <= now -
 *     that sample's read time.
 *  2. Replay time: the replica has replayed every commit up to
 *     `pg_last_xact_replay_timestamp()`, so its view is at most
 *     `replica now() - that` old. The heartbeat (`atlas_heartbeat()` on the
 *     primary every second) guarantees a commit at least every second, so with
 *     replay paused or stuck this bound grows second by second, and on a busy
 *     primary it is the precise one (milliseconds).
 *
 * Bound 2 compares the replica's clock with the primary's commit timestamps;
 * they are NTP-synchronised hosts in AWS and the same host locally. Bound 1
 * uses only this process's clock.
 */

/** A `pg_lsn` text ("16/B374D848") as a number that compares correctly. */
export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!m) throw new Error(`not a pg_lsn: ${lsn}`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

/** The primary's WAL position as read by this process at `atMs`. */
export interface PrimaryPosition {
  atMs: number;
  lsn: bigint;
}

/** What one probe of a replica returned. */
export interface ReplicaSample {
  inRecovery: boolean;
  replayLsn: bigint | null;
  /** `pg_last_xact_replay_timestamp()`, ms since epoch (primary's commit clock). */
  replayTimestampMs: number | null;
  /** `now()` on the replica, ms since epoch. */
  replicaNowMs: number;
  /** This process's clock when the probe answered. */
  probedAtMs: number;
}

/**
 * Lag in seconds, or null when it cannot be known (not a replica, nothing
 * replayed yet). `history` is ascending by time; its last entry is the
 * position read just before this probe.
 */
export function computeLagSeconds(sample: ReplicaSample, history: readonly PrimaryPosition[]): number | null {
  if (!sample.inRecovery || sample.replayLsn === null) return null;
  let byPosition = Infinity;
  for (let i = history.length - 1; i >= 0; i--) {
    if (sample.replayLsn >= history[i].lsn) {
      byPosition = i === history.length - 1 ? 0 : Math.max(0, sample.probedAtMs - history[i].atMs) / 1000;
      break;
    }
  }
  const byReplayTime =
    sample.replayTimestampMs === null ? Infinity : Math.max(0, sample.replicaNowMs - sample.replayTimestampMs) / 1000;
  const lag = Math.min(byPosition, byReplayTime);
  return Number.isFinite(lag) ? lag : null;
}

/** Keeps the primary positions of the last `maxAgeMs` (default 15 min), oldest first. */
export class PositionHistory {
  private readonly items: PrimaryPosition[] = [];
  constructor(private readonly maxAgeMs = 15 * 60_000) {}

  add(p: PrimaryPosition): void {
    this.items.push(p);
    const cutoff = p.atMs - this.maxAgeMs;
    let drop = 0;
    while (drop < this.items.length - 1 && this.items[drop].atMs < cutoff) drop++;
    if (drop > 0) this.items.splice(0, drop);
  }

  get all(): readonly PrimaryPosition[] {
    return this.items;
  }
}
