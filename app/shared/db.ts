/**
 * All PostgreSQL access goes through here: pools, transactions, and the
 * tenant-scoped transaction that every tenant-facing query runs in.
 */
import { Pool, PoolClient, QueryResultRow } from "pg";
import { log } from "./log";

export type { Pool, PoolClient } from "pg";

export interface PoolOptions {
  /** Pool size. Defaults to 10. */
  max?: number;
  /** Per-statement timeout, ms. Defaults to 30 s. */
  statementTimeoutMs?: number;
}

/** A pool whose connection errors are logged (without the URL: it holds the password). */
export function createPool(url: string, name: string, opts: PoolOptions = {}): Pool {
  const pool = new Pool({
    connectionString: url,
    max: opts.max ?? 10,
    statement_timeout: opts.statementTimeoutMs ?? 30_000,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: `atlas-${name}`,
  });
  surviveLostConnections(pool, name);
  return pool;
}

const equippedPools = new WeakSet<Pool>();

/**
 * Keeps a lost connection from killing the process. pg emits 'error' on a
 * client whose server goes away (a restart, a crash, a failover, a dropped
 * database); the pool listens only while the client is idle, so a checked-out
 * client (a transaction in progress) had no listener and the process died of
 * "Connection terminated unexpectedly" (found by
 * tests/integration/faults/postgres-restart.test.ts in the batch writer).
 * With a listener the error reaches the statement in flight (or the next
 * one), the transaction fails, nothing is committed, and the client is not
 * pooled again. Idempotent; for pools made elsewhere too.
 */
export function surviveLostConnections(pool: Pool, name = "pool"): void {
  if (equippedPools.has(pool)) return;
  equippedPools.add(pool);
  pool.on("error", (err) => log.warn("idle database client error", { pool: name, error: err }));
  pool.on("connect", (client) => client.on("error", (err) => log.warn("database connection lost", { pool: name, error: err })));
}

export async function withClient<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await fn(client);
  } finally {
    client.release();
  }
}

export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, async (client) => {
    await client.query("BEGIN");
    try {
      const result = await fn(client);
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    }
  });
}

/** Role names the migrations create (db/migrations). */
export const APP_ROLE = "atlas_app";
export const WRITER_ROLE = "atlas_writer";

/**
 * Runs `fn` in a transaction as the non-owner application role with the
 * tenant set transaction-locally, so row-level security decides what is
 * visible and a pooled connection never carries a tenant over.
 */
export async function withTenant<T>(
  pool: Pool,
  tenantId: string,
  fn: (client: PoolClient) => Promise<T>,
  opts: { readOnly?: boolean } = {},
): Promise<T> {
  return withTransaction(pool, async (client) => {
    await client.query(
      `${opts.readOnly ? "SET TRANSACTION READ ONLY; " : ""}SET LOCAL ROLE ${APP_ROLE}`,
    );
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
    return fn(client);
  });
}

/**
 * Runs `fn` in a transaction as the login user (the owner: operator work such
 * as creating, changing or erasing a tenant, which atlas_app may not do) with
 * the tenant set transaction-locally, so FORCE ROW LEVEL SECURITY still scopes
 * every statement to that one tenant's rows.
 */
export async function withOperatorTenant<T>(pool: Pool, tenantId: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return withTransaction(pool, async (client) => {
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
    return fn(client);
  });
}

/** One query, rows only. */
export async function queryRows<R extends QueryResultRow>(
  client: Pool | PoolClient,
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const result = await client.query<R>(sql, params);
  return result.rows;
}
