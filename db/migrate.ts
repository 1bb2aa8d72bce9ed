/**
 * The migration runner: applies db/migrations/NNNNNN_<name>.sql in order,
 * forward only, each file in its own transaction, recorded in
 * `schema_migrations`. A session advisory lock serialises runners, so two
 * containers starting at once apply each migration once. It refuses to run
 * against a database that has a migration this code does not know (the
 * database is ahead of the code: an older image must not touch it).
 *
 * Shape after graphile/worker src/migrate.ts.
 */
import { createHash } from "crypto";
import { existsSync, readdirSync, readFileSync } from "fs";
import path from "path";
import { Client, Pool, PoolClient } from "pg";

/** pg_advisory_lock key of the runner (any constant unique to this purpose). */
const MIGRATION_LOCK_KEY = 7_270_000_001;
const FILE_PATTERN = /^(\d{6})_([a-z0-9_]+)\.sql$/;

export type Partitioning = "auto" | "partman" | "native";

export interface MigrateOptions {
  /**
   * How history partitions are made: `partman` (pg_partman must be
   * available), `native` (the runner's own functions), or `auto`: pg_partman
   * when the server has it. Only matters the first time 000003 runs.
   * Defaults to `auto`.
   */
  partitioning?: Partitioning;
  /** Where the .sql files are. Defaults to db/migrations next to this file. */
  migrationsDir?: string;
  /** Progress lines (one per applied file). Defaults to silent. */
  log?: (line: string) => void;
}

export interface Migration {
  version: string;
  name: string;
  file: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MigrationError";
  }
}

/** The migrations directory: next to this file, or db/migrations of the working directory (compiled dist/). */
export function defaultMigrationsDir(): string {
  const candidates = [path.join(__dirname, "migrations"), path.join(process.cwd(), "db", "migrations")];
  const found = candidates.find((dir) => existsSync(dir));
  if (!found) throw new MigrationError(`no migrations directory; looked in ${candidates.join(", ")}`);
  return found;
}

/** The migrations on disk, in version order. */
export function loadMigrations(dir: string = defaultMigrationsDir()): Migration[] {
  const migrations = readdirSync(dir)
    .filter((file) => file.endsWith(".sql"))
    .map((file) => {
      const match = FILE_PATTERN.exec(file);
      if (!match) throw new MigrationError(`migration file name ${file} is not NNNNNN_<name>.sql`);
      const sql = readFileSync(path.join(dir, file), "utf8");
      return {
        version: match[1],
        name: match[2],
        file,
        sql,
        checksum: createHash("sha256").update(sql).digest("hex"),
      };
    })
    .sort((a, b) => a.version.localeCompare(b.version));
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i].version === migrations[i - 1].version) {
      throw new MigrationError(`two migrations with version ${migrations[i].version}`);
    }
  }
  return migrations;
}

/**
 * Applies the pending migrations to the database of `target` (a pool or a
 * connection URL). Returns the versions applied now (empty when up to date).
 */
export async function migrate(target: Pool | string, opts: MigrateOptions = {}): Promise<{ applied: string[] }> {
  const migrations = loadMigrations(opts.migrationsDir);
  if (typeof target === "string") {
    const client = new Client({ connectionString: target, application_name: "atlas-migrate" });
    await client.connect();
    try {
      return await migrateWith(client, migrations, opts);
    } finally {
      await client.end();
    }
  }
  const client = await target.connect();
  try {
    return await migrateWith(client, migrations, opts);
  } finally {
    client.release();
  }
}

async function migrateWith(
  client: Client | PoolClient,
  migrations: Migration[],
  opts: MigrateOptions,
): Promise<{ applied: string[] }> {
  const log = opts.log ?? (() => undefined);
  const partitioning = opts.partitioning ?? "auto";
  // A pool's statement_timeout must not cancel a long migration, nor a runner
  // waiting for another one to finish. RESET below restores the session's own.
  await client.query("SET statement_timeout = 0");
  await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
  try {
    await client.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version     text PRIMARY KEY,
        name        text NOT NULL,
        checksum    text NOT NULL,
        applied_at  timestamptz NOT NULL DEFAULT now()
      )`);
    const { rows } = await client.query<{ version: string; name: string; checksum: string }>(
      "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
    );
    const known = new Map(migrations.map((m) => [m.version, m]));
    for (const row of rows) {
      const mine = known.get(row.version);
      if (!mine) {
        throw new MigrationError(
          `database has migration ${row.version}_${row.name}, which this code does not know: ` +
            "the database is ahead of the code; refusing to run (deploy the newer code)",
        );
      }
      if (mine.name !== row.name) {
        throw new MigrationError(
          `migration ${row.version} is ${row.name} in the database but ${mine.name} in the code; refusing to run`,
        );
      }
      if (mine.checksum !== row.checksum) {
        // Forward only: a landed migration is never edited. Not fatal (the
        // database already has it), but worth a line.
        log(`warning: ${mine.file} changed after it was applied; the database keeps the applied version`);
      }
    }
    const done = new Set(rows.map((r) => r.version));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await client.query("BEGIN");
      try {
        await client.query("SELECT set_config('atlas.partitioning', $1, true)", [partitioning]);
        await client.query(m.sql);
        await client.query("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", [
          m.version,
          m.name,
          m.checksum,
        ]);
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        const reason = err instanceof Error ? err.message : String(err);
        throw new MigrationError(`migration ${m.file} failed: ${reason}`, { cause: err });
      }
      applied.push(m.version);
      log(`applied ${m.file}`);
    }
    return { applied };
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await client.query("RESET statement_timeout").catch(() => undefined);
  }
}
