/**
 * Runs one read where the consistency level says, as the caller's tenant:
 * strong → primary; eventual → the least-lagged replica within the lag
 * budget, else the primary. A replica failing mid-request counts against its
 * breaker and the read is retried on the primary, so the client still gets
 * an answer. Every read is a read-only transaction under row-level security
 * (withTenant), wherever it runs.
 */
import type { Pool, PoolClient } from "pg";
import { withTenant } from "../../shared/db";
import { AppError } from "../../shared/http/errors";
import { log } from "../../shared/log";
import { replicaFallbacks } from "../metrics";
import type { ReadPolicy } from "./consistency";
import type { ReplicaSet } from "./replica-set";

export interface ReadResult<T> {
  value: T;
  /** `primary` or `replica-<n>`. */
  source: string;
  /** The lag of the source that answered, seconds (the primary: 0). */
  lagSeconds: number;
}

/**
 * Errors that say the replica is unwell rather than the query wrong:
 * no connection / network error (no SQLSTATE), class 08 (connection), 53
 * (resources), 57 (operator intervention: shutdown, statement timeout,
 * cannot connect now), 58 (system), 40001 (canceled by a recovery conflict
 * on a standby), XX (internal).
 */
export function isReplicaFailure(err: unknown): boolean {
  if (err instanceof AppError || err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) return false;
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return /^(08|53|57|58|XX)/.test(code) || code === "40001";
}

export async function routeRead<T>(
  primary: Pool,
  replicas: ReplicaSet,
  policy: ReadPolicy,
  tenantId: string,
  fn: (client: PoolClient) => Promise<T>,
): Promise<ReadResult<T>> {
  if (policy.level === "eventual") {
    const chosen = replicas.pick(policy.maxLagSeconds);
    if (chosen) {
      try {
        const value = await withTenant(chosen.node.pool, tenantId, fn, { readOnly: true });
        return { value, source: chosen.node.name, lagSeconds: chosen.lagSeconds };
      } catch (err) {
        if (!isReplicaFailure(err)) throw err;
        replicas.reportFailure(chosen.node);
        replicaFallbacks.inc({ reason: "replica_error" });
        log.warn("replica read failed; answering from the primary", { replica: chosen.node.name, error: err });
      }
    } else if (replicas.nodes.length > 0) {
      replicaFallbacks.inc({ reason: "no_replica_within_budget" });
    }
  }
  const value = await withTenant(primary, tenantId, fn, { readOnly: true });
  return { value, source: "primary", lagSeconds: 0 };
}
