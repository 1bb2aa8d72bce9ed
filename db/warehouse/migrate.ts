/**
 * The warehouse's own tiny migration runner (separate from db/migrations,
 * which belong to the primary): applies db/warehouse/NNNN_*.sql in order,
 * one transaction per file, recorded in warehouse_migrations. Concurrent
 * runners (several loader tasks starting at once) serialise on LOCK TABLE,
 * which Redshift supports too (PostgreSQL advisory locks it does not).
 */
import { existsSync, readdirSync, readFileSync } from "fs";
import { join } from "path";
import type { Pool } from "../../app/shared/db";

/** The .sql files: next to this file, or db/warehouse of the working directory (compiled dist/ has no .sql). */
const DIR = [__dirname, join(process.cwd(), "db", "warehouse")].find((d) => existsSync(join(d, "0001_warehouse.sql"))) ?? __dirname;

export function warehouseMigrationFiles(): string[] {
  return readdirSync(DIR)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort();
}

/** Applies the pending warehouse migrations; returns the files applied. */
export async function migrateWarehouse(pool: Pool): Promise<string[]> {
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query(
      "CREATE TABLE IF NOT EXISTS warehouse_migrations (version varchar(128) PRIMARY KEY, applied_at timestamptz NOT NULL)",
    );
    for (const file of warehouseMigrationFiles()) {
      await client.query("BEGIN");
      try {
        await client.query("LOCK TABLE warehouse_migrations IN EXCLUSIVE MODE");
        const done = await client.query("SELECT 1 FROM warehouse_migrations WHERE version = $1", [file]);
        if (done.rowCount === 0) {
          await client.query(readFileSync(join(DIR, file), "utf8"));
          await client.query("INSERT INTO warehouse_migrations (version, applied_at) VALUES ($1, now())", [file]);
          applied.push(file);
        }
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw new Error(`warehouse migration ${file} failed: ${(err as Error).message}`);
      }
    }
    const known = new Set(warehouseMigrationFiles());
    const { rows } = await client.query<{ version: string }>("SELECT version FROM warehouse_migrations");
    const ahead = rows.map((r) => r.version).filter((v) => !known.has(v));
    if (ahead.length > 0) {
      throw new Error(`the warehouse is ahead of this code (unknown migrations: ${ahead.join(", ")}); deploy the newer loader`);
    }
    return applied;
  } finally {
    client.release();
  }
}
