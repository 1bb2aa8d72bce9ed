/**
 * A fresh, migrated database per test file on the server of DATABASE_URL
 * (the stack's primary under `npm test`), dropped afterwards, so test files
 * never see each other's rows.
 *
 *   const db = useTestDatabase();           // mocha before/after hooks
 *   it("…", async () => { await db.pool.query(…) });
 */
import { randomBytes } from "crypto";
import { Client, Pool, PoolClient } from "pg";
import { migrate, Partitioning } from "../../db/migrate";
import { attributesOf, entityTypeOf } from "../../app/query/sql/entities";
import { surviveLostConnections } from "../../app/shared/db";
import { requireStackVar } from "./stack-env";

export interface TestDatabase {
  name: string;
  url: string;
  /** A pool of the login user (the owner). */
  pool: Pool;
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** Apply the migrations. Defaults to true. */
  migrate?: boolean;
  /** History partitioning path. Defaults to "auto". */
  partitioning?: Partitioning;
}

/** The URL of another database on the same server as `url`. */
export function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: requireStackVar("DATABASE_URL") });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(opts: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const name = `atlas_test_${randomBytes(6).toString("hex")}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = databaseUrl(requireStackVar("DATABASE_URL"), name);
  const pool = new Pool({ connectionString: url, max: 8, application_name: "atlas-test" });
  // As the services' pools are (app/shared/db.ts): a restart of the server in
  // a fault test must fail the statement in flight, not kill the test process.
  surviveLostConnections(pool, "test");
  let ended = false;
  const drop = async () => {
    if (!ended) {
      ended = true;
      await pool.end();
    }
    // One retry: a DROP racing another session's catalog work on the shared server can fail once.
    for (let attempt = 1; ; attempt++) {
      try {
        await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
        return;
      } catch (err) {
        if (attempt >= 3) throw err;
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
  };
  try {
    if (opts.migrate ?? true) await migrate(pool, { partitioning: opts.partitioning });
  } catch (err) {
    await drop();
    throw err;
  }
  return { name, url, pool, drop };
}

/** Registers before/after hooks making one test database for the enclosing describe. */
export function useTestDatabase(opts: TestDatabaseOptions = {}): TestDatabase {
  const holder = {} as { db?: TestDatabase };
  before(async function () {
    this.timeout(120_000);
    holder.db = await createTestDatabase(opts);
  });
  after(async () => {
    await holder.db?.drop();
  });
  const get = (): TestDatabase => {
    if (!holder.db) throw new Error("test database used outside a test (before its before hook ran)");
    return holder.db;
  };
  return {
    get name() {
      return get().name;
    },
    get url() {
      return get().url;
    },
    get pool() {
      return get().pool;
    },
    drop: () => get().drop(),
  };
}

/** A row of entity_values_staging; omitted value columns are NULL. */
export interface StagedRow {
  tenant_id: string;
  entity_id: number;
  entity_type?: string | null;
  attribute_id: number;
  ts: string | Date;
  received_at?: string | Date;
  value_int?: number | null;
  value_decimal?: number | null;
  value_bool?: boolean | null;
  value_string?: string | null;
  value_ts?: string | Date | null;
}

/** Inserts rows into staging under a batch id (tests; the writer uses COPY). */
export async function stageRows(client: Pool | PoolClient, batchId: string, rows: StagedRow[]): Promise<void> {
  const doc = rows.map((r) => ({
    received_at: new Date().toISOString(),
    entity_type: "sensor",
    ...r,
    batch_id: batchId,
  }));
  await client.query(
    "INSERT INTO entity_values_staging SELECT * FROM jsonb_populate_recordset(NULL::entity_values_staging, $1)",
    [JSON.stringify(doc)],
  );
}

/** Stages rows and flushes them as atlas_writer in one transaction; returns the touched entities. */
export async function flush(pool: Pool, batchId: string, rows: StagedRow[]): Promise<Array<{ tenant_id: string; entity_id: string }>> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SET LOCAL ROLE atlas_writer");
    await stageRows(client, batchId, rows);
    const { rows: touched } = await client.query("SELECT * FROM stage_flush($1)", [batchId]);
    await client.query("COMMIT");
    return touched;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Runs fn as atlas_app with app.tenant_id set (or unset when tenantId is null), then rolls back. */
export async function asTenant<T>(pool: Pool, tenantId: string | null, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SET LOCAL ROLE atlas_app");
    if (tenantId !== null) await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
    return await fn(client);
  } finally {
    await client.query("ROLLBACK").catch(() => undefined);
    client.release();
  }
}

export interface ProjectionRow {
  entity_id: string;
  entity_type: string;
  hot: Record<string, unknown>;
  /** {name: {v, ts}} of every attribute, from entity_latest (as the API reads it). */
  latest: Record<string, { v: unknown; ts: string }>;
  updated_at: Date;
}

/** An entity's projection (entity_jsonb and its entity_latest rows), or undefined; as the owner (no RLS). */
export async function projectionOf(pool: Pool, tenantId: string, entityId: number | string): Promise<ProjectionRow | undefined> {
  const { rows } = await pool.query(
    `SELECT j.entity_id::text, ${entityTypeOf("j")} AS entity_type, j.hot, ${attributesOf("j")} AS attributes, j.updated_at
     FROM entity_jsonb j WHERE j.tenant_id = $1 AND j.entity_id = $2::bigint`,
    [tenantId, String(entityId)],
  );
  if (rows.length === 0) return undefined;
  const { attributes, ...row } = rows[0] as Omit<ProjectionRow, "latest"> & { attributes: Record<string, { value: unknown; ts: string }> | null };
  const latest = Object.fromEntries(Object.entries(attributes ?? {}).map(([k, a]) => [k, { v: a.value, ts: a.ts }]));
  return { ...row, latest };
}
