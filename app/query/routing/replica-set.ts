/**
 * The replicas of the primary, their measured lag and their circuit breakers.
 *
 * A background loop (every second, never per request) writes the heartbeat
 * on the primary, reads the primary's WAL position and probes each replica;
 * lag.ts turns the samples into a lag. A probe is also the breaker's
 * half-open probe: a replica whose breaker is open is left alone until its
 * cool-down has passed, then probed once.
 */
import type { Pool } from "pg";
import { createPool } from "../../shared/db";
import { log } from "../../shared/log";
import { breakerState, replicaLag } from "../metrics";
import { BreakerOptions, BreakerState, CircuitBreaker, breakerStateValue } from "./breaker";
import { computeLagSeconds, parseLsn, PositionHistory } from "./lag";

export interface ReplicaNode {
  /** `replica-<n>`, 1-based in the order of DATABASE_REPLICA_URLS: the X-Data-Source value. */
  readonly name: string;
  readonly pool: Pool;
  readonly breaker: CircuitBreaker;
  /** Lag of the last successful measurement, seconds; null when unknown. */
  lagSeconds: number | null;
  /** This process's clock at that measurement. */
  measuredAtMs: number | null;
  /**
   * When the probe behind `lagSeconds` was sent (this process's clock): the
   * lag is a bound as of then, and grows by the time since (replay may have
   * stopped right after the probe).
   */
  lagAsOfMs: number | null;
}

export interface ReplicaSetOptions {
  /** Measurement period, ms. Defaults to 1000. */
  intervalMs?: number;
  /** A probe slower than this counts as a failure, ms. Defaults to 2000. */
  probeTimeoutMs?: number;
  /** A measurement older than this is not trusted for routing, ms. Defaults to 5000. */
  staleAfterMs?: number;
  breaker?: BreakerOptions;
  /** Write the primary heartbeat each period. Defaults to true. */
  writeHeartbeat?: boolean;
}

const PROBE_SQL = `SELECT pg_is_in_recovery() AS in_recovery,
  pg_last_wal_replay_lsn()::text AS replay_lsn,
  (extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000)::float8 AS replay_ms,
  (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now_ms`;

// Fallback when the schema has no atlas_heartbeat() function.
const HEARTBEAT_UPSERT = `INSERT INTO replication_heartbeat (id, beat_at, beat_seq) VALUES (1, now(), 1)
  ON CONFLICT (id) DO UPDATE SET beat_at = now(), beat_seq = replication_heartbeat.beat_seq + 1`;

const timeout = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([
    p,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms).unref()),
  ]);

export class ReplicaSet {
  readonly nodes: ReplicaNode[];
  private readonly history = new PositionHistory();
  private readonly intervalMs: number;
  private readonly probeTimeoutMs: number;
  private readonly staleAfterMs: number;
  private readonly writeHeartbeat: boolean;
  private heartbeatSql: string | null = "SELECT atlas_heartbeat()";
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private ticking: Promise<void> | null = null;
  private roundRobin = 0;
  private ownedPools: Pool[] = [];
  private primaryUnreachable = false;

  constructor(
    private readonly primary: Pool,
    replicas: ReadonlyArray<{ name: string; pool: Pool }>,
    opts: ReplicaSetOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 1000;
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 2000;
    this.staleAfterMs = opts.staleAfterMs ?? 5000;
    this.writeHeartbeat = opts.writeHeartbeat ?? true;
    this.nodes = replicas.map((r) => ({
      name: r.name,
      pool: r.pool,
      breaker: new CircuitBreaker(opts.breaker),
      lagSeconds: null,
      measuredAtMs: null,
      lagAsOfMs: null,
    }));
  }

  /** Builds the set from DATABASE_REPLICA_URLS; the set owns (and on stop ends) these pools. */
  static fromUrls(primary: Pool, urls: readonly string[], opts: ReplicaSetOptions & { poolMax?: number } = {}): ReplicaSet {
    const pools = urls.map((url, i) => ({ name: `replica-${i + 1}`, pool: createPool(url, `replica-${i + 1}`, { max: opts.poolMax }) }));
    const set = new ReplicaSet(primary, pools, opts);
    set.ownedPools = pools.map((p) => p.pool);
    return set;
  }

  /** Starts the background measurement (first round at once). Idempotent. */
  start(): void {
    if (this.running || this.nodes.length === 0) return;
    this.running = true;
    const loop = () => {
      this.ticking = this.tick().finally(() => {
        this.ticking = null;
        if (this.running) this.timer = setTimeout(loop, this.intervalMs).unref();
      });
    };
    loop();
  }

  /** Stops the loop, waits for a round in flight, ends the pools this set created. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.ticking) await this.ticking;
    await Promise.all(this.ownedPools.map((p) => p.end().catch(() => undefined)));
    this.ownedPools = [];
  }

  /** One measurement round: position of the primary, a probe per replica, then the heartbeat. */
  async tick(): Promise<void> {
    try {
      // Stamped with the time the question was sent: the position is at least
      // that recent, so bounds computed from it err on the side of more lag.
      const askedAt = Date.now();
      const { rows } = await timeout(this.primary.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn"), this.probeTimeoutMs, "primary position");
      this.history.add({ atMs: askedAt, lsn: parseLsn(rows[0].lsn) });
      if (this.primaryUnreachable) log.info("primary WAL position readable again");
      this.primaryUnreachable = false;
    } catch (err) {
      // Without a fresh primary position the replay-time bound still works.
      if (!this.primaryUnreachable) log.warn("cannot read the primary's WAL position", { error: err });
      this.primaryUnreachable = true;
    }
    await Promise.all(this.nodes.map((node) => this.probe(node)));
    // After the probes, not before: a heartbeat committed just before a probe
    // would make a current replica look one period behind.
    if (this.writeHeartbeat) await this.beat();
  }

  private async probe(node: ReplicaNode): Promise<void> {
    if (!node.breaker.tryAcquire()) {
      this.publish(node);
      return;
    }
    const sentAt = Date.now();
    try {
      const { rows } = await timeout(node.pool.query(PROBE_SQL), this.probeTimeoutMs, `${node.name} probe`);
      const r = rows[0] as { in_recovery: boolean; replay_lsn: string | null; replay_ms: number | null; now_ms: number };
      const lag = computeLagSeconds(
        {
          inRecovery: r.in_recovery,
          replayLsn: r.replay_lsn === null ? null : parseLsn(r.replay_lsn),
          replayTimestampMs: r.replay_ms,
          replicaNowMs: r.now_ms,
          probedAtMs: Date.now(),
        },
        this.history.all,
      );
      if (!r.in_recovery) log.warn("configured replica is not in recovery; not using it", { replica: node.name });
      node.lagSeconds = lag;
      node.measuredAtMs = Date.now();
      node.lagAsOfMs = sentAt;
      node.breaker.onSuccess();
    } catch (err) {
      node.lagSeconds = null;
      node.measuredAtMs = null;
      node.lagAsOfMs = null;
      const wasClosed = node.breaker.isClosed();
      node.breaker.onFailure();
      if (wasClosed && !node.breaker.isClosed()) log.warn("replica breaker opened", { replica: node.name, error: err });
    }
    this.publish(node);
  }

  private async beat(): Promise<void> {
    if (!this.heartbeatSql) return;
    try {
      await timeout(this.primary.query(this.heartbeatSql), this.probeTimeoutMs, "heartbeat");
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "42883" && this.heartbeatSql !== HEARTBEAT_UPSERT) {
        this.heartbeatSql = HEARTBEAT_UPSERT; // no atlas_heartbeat(): write the table directly
      } else if (code === "42P01") {
        log.warn("no replication_heartbeat table; lag relies on replay position and time only");
        this.heartbeatSql = null;
      }
    }
  }

  private publish(node: ReplicaNode): void {
    replicaLag.set({ replica: node.name }, node.lagSeconds ?? -1);
    breakerState.set({ replica: node.name }, breakerStateValue(node.breaker.state()));
  }

  /**
   * The lag to trust for routing and to report, as of `now`: the measured
   * bound plus the time since its probe was sent, because a replica whose
   * replay stopped just after the probe is that much further behind now
   * (reporting the bare measurement under-stated the lag by up to one period,
   * and let a replica past the budget answer for up to a period). Null when
   * unknown or the measurement is stale.
   */
  currentLag(node: ReplicaNode, now = Date.now()): number | null {
    if (node.lagSeconds === null || node.measuredAtMs === null || node.lagAsOfMs === null) return null;
    if (now - node.measuredAtMs > this.staleAfterMs) return null;
    return node.lagSeconds + Math.max(0, now - node.lagAsOfMs) / 1000;
  }

  /**
   * The least-lagged replica with a closed breaker and a fresh lag within
   * `maxLagSeconds`; replicas tied for least lag take turns. Null: none.
   */
  pick(maxLagSeconds: number, now = Date.now()): { node: ReplicaNode; lagSeconds: number } | null {
    let best: Array<{ node: ReplicaNode; lagSeconds: number }> = [];
    for (const node of this.nodes) {
      const lag = this.currentLag(node, now);
      if (lag === null || lag > maxLagSeconds || !node.breaker.isClosed(now)) continue;
      if (best.length === 0 || lag < best[0].lagSeconds) best = [{ node, lagSeconds: lag }];
      else if (lag === best[0].lagSeconds) best.push({ node, lagSeconds: lag });
    }
    if (best.length === 0) return null;
    this.roundRobin = (this.roundRobin + 1) % 1_000_000;
    return best[this.roundRobin % best.length];
  }

  /** A request on the replica failed for a reason of the replica (connection, timeout, recovery conflict). */
  reportFailure(node: ReplicaNode): void {
    const wasClosed = node.breaker.isClosed();
    node.breaker.onFailure();
    if (wasClosed && !node.breaker.isClosed()) log.warn("replica breaker opened by request errors", { replica: node.name });
    this.publish(node);
  }

  snapshot(now = Date.now()): Array<{ name: string; lag_seconds: number | null; breaker: BreakerState }> {
    return this.nodes.map((n) => ({ name: n.name, lag_seconds: this.currentLag(n, now), breaker: n.breaker.state(now) }));
  }
}
