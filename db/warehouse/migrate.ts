/**
 * The warehouse's own tiny migration runner (separate from db/migrations,
 * which belong to the primary): applies migrations/ in order, rendered for
 * the warehouse's dialect (ddl.ts), one transaction per migration, recorded
 * in warehouse_migrations. Concurrent runners (several loader tasks starting
 * at once) serialise on LOCK of that table, which Redshift has too (advisory
 * locks it has not). Refuses a warehouse that has a migration this code does
 * not know: an older loader must not touch a newer schema.
 */
import type { Pool, PoolClient } from "../../app/shared/db";
import { createTableStatements, lockStatement, migrationStatements } from "./ddl";
import { detectDialect, type Dialect } from "./dialect";
import { MIGRATIONS } from "./migrations";
import type { Table } from "./schema";

/** The runner's bookkeeping, created before any migration (so by no migration). */
export const MIGRATIONS_TABLE: Table = {
  name: "warehouse_migrations",
  columns: [
    { name: "version", type: "varchar(128)", notNull: true },
    { name: "applied_at", type: "timestamptz", notNull: true },
  ],
  primaryKey: ["version"],
  redshift: { distStyle: "auto" },
};

/**
 * Every statement the runner issues besides the migrations themselves (the
 * unit tests check them against Redshift's grammar). applied_at is bound by
 * the caller, not now(): NOW is a deprecated leader-node-only function on
 * Redshift (https://docs.aws.amazon.com/redshift/latest/dg/c_SQL_functions_leader_node_only.html).
 */
export function runnerSql(dialect: Dialect) {
  return {
    createTable: createTableStatements(MIGRATIONS_TABLE, dialect, { ifNotExists: true }),
    lock: lockStatement(MIGRATIONS_TABLE.name, dialect),
    isApplied: "SELECT 1 FROM warehouse_migrations WHERE version = $1",
    record: "INSERT INTO warehouse_migrations (version, applied_at) VALUES ($1, $2)",
    versions: "SELECT version FROM warehouse_migrations",
  };
}

export interface MigrateWarehouseOptions {
  /** The warehouse's dialect. Defaults to asking the server (SELECT version(), dialect.ts). */
  dialect?: Dialect;
}

/**
 * CREATE TABLE IF NOT EXISTS is not atomic in PostgreSQL: two runners can
 * both find the table missing, and the losers fail on the catalog's unique
 * index (23505) or with "already exists" (42P07, 42710 for its row type):
 * 12 of 30 runners in three races of 10 on the local stack. The table
 * exists then: once more.
 */
const LOST_CREATE_RACE = new Set(["23505", "42P07", "42710"]);

async function ensureMigrationsTable(client: PoolClient, statements: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      for (const s of statements) await client.query(s);
      return;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (attempt > 1 || !LOST_CREATE_RACE.has(code ?? "")) throw err;
    }
  }
}

/** Applies the pending warehouse migrations; returns the versions applied. */
export async function migrateWarehouse(pool: Pool, opts: MigrateWarehouseOptions = {}): Promise<string[]> {
  const client = await pool.connect();
  try {
    const dialect = opts.dialect ?? (await detectDialect(client));
    const sql = runnerSql(dialect);
    // Rendered before anything runs: a bad description fails here, touching nothing.
    const plan = MIGRATIONS.map((m) => ({ version: m.version, statements: migrationStatements(m, dialect) }));
    await ensureMigrationsTable(client, sql.createTable);
    const applied: string[] = [];
    for (const { version, statements } of plan) {
      await client.query("BEGIN");
      try {
        await client.query(sql.lock);
        const done = await client.query(sql.isApplied, [version]);
        if (done.rows.length === 0) {
          for (const s of statements) await client.query(s);
          await client.query(sql.record, [version, new Date()]);
          applied.push(version);
        }
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw new Error(`warehouse migration ${version} failed (${dialect}): ${(err as Error).message}`);
      }
    }
    const known = new Set(plan.map((p) => p.version));
    const { rows } = await client.query<{ version: string }>(sql.versions);
    const ahead = rows.map((r) => r.version).filter((v) => !known.has(v));
    if (ahead.length > 0) {
      throw new Error(`the warehouse is ahead of this code (unknown migrations: ${ahead.join(", ")}); deploy the newer loader`);
    }
    return applied;
  } finally {
    client.release();
  }
}
