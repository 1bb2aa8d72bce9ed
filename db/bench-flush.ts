/**
 * stage_flush throughput: COPY a batch of readings into staging as the writer
 * does, then flush it, and time both. Three rounds on the same entities:
 * new entities (insert path), newer readings (projection merge path), and a
 * replay of the last round (all conflicts: exactly-once path).
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
 *     node -r ts-node/register/transpile-only db/bench-flush.ts --entities 10000 --values 10
 *
 * `--until 000008` migrates only up to that version: the same rounds on an
 * older layout, for before/after figures in one run (db/README.md "Measured").
 *
 * Runs in a throwaway database on the server of DATABASE_URL (dropped after).
 * `benchStageFlush` is reusable by bench/.
 */
import { randomBytes, randomUUID } from "crypto";
import { Readable } from "stream";
import { pipeline } from "stream/promises";
import { Client, Pool } from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { copyFileSync, mkdtempSync, readdirSync } from "fs";
import { tmpdir } from "os";
import path from "path";
import { defaultMigrationsDir, migrate } from "./migrate";

export interface FlushBenchOptions {
  /** Entities per batch. Defaults to 10,000. */
  entities?: number;
  /** Values per entity per batch (one per attribute). Defaults to 10. */
  valuesPerEntity?: number;
}

export interface FlushRound {
  round: string;
  values: number;
  copyMs: number;
  flushMs: number;
  touched: number;
  flushValuesPerSec: number;
  totalValuesPerSec: number;
}

const COPY_SQL =
  "COPY entity_values_staging (batch_id, tenant_id, entity_id, entity_type, attribute_id, ts, received_at, " +
  "value_int, value_decimal, value_bool, value_string, value_ts) FROM STDIN";

/** Runs the three rounds against an already migrated database. */
export async function benchStageFlush(pool: Pool, opts: FlushBenchOptions = {}): Promise<FlushRound[]> {
  const entities = opts.entities ?? 10_000;
  const perEntity = opts.valuesPerEntity ?? 10;
  const tenantId = randomUUID();
  const client = await pool.connect();
  const attrs: Array<{ id: number; type: string }> = [];
  try {
    await client.query("BEGIN");
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
    await client.query("INSERT INTO tenants (tenant_id, name) VALUES ($1, $2)", [tenantId, `bench-${tenantId}`]);
    const types = ["decimal", "int", "bool", "string", "timestamp"];
    for (let i = 0; i < perEntity; i++) {
      const type = types[i % types.length];
      const { rows } = await client.query(
        "INSERT INTO attributes (tenant_id, name, data_type, is_hot) VALUES ($1, $2, $3, $4) RETURNING attribute_id",
        [tenantId, `attr_${i}`, type, i < Math.ceil(perEntity / 5)], // ~20 % hot, as the seeds assume
      );
      attrs.push({ id: rows[0].attribute_id, type });
    }
    await client.query("COMMIT");
  } finally {
    client.release();
  }

  const base = Date.now() - 3600_000;
  const roundAt = [base, base + 60_000, base + 60_000];
  const names = ["new entities", "newer readings", "replay"];
  const results: FlushRound[] = [];
  for (let r = 0; r < 3; r++) {
    const batchId = randomUUID();
    const ts = new Date(roundAt[r]).toISOString();
    const received = new Date().toISOString();
    const lines = function* (): Generator<string> {
      let chunk = "";
      for (let e = 1; e <= entities; e++) {
        for (const a of attrs) {
          const v = valueColumns(a.type, e, r === 2 ? 1 : r);
          chunk += `${batchId}\t${tenantId}\t${e}\tsensor\t${a.id}\t${ts}\t${received}\t${v}\n`;
        }
        if (chunk.length > 64_000) {
          yield chunk;
          chunk = "";
        }
      }
      if (chunk) yield chunk;
    };
    const c = await pool.connect();
    try {
      await c.query("BEGIN");
      await c.query("SET LOCAL ROLE atlas_writer");
      const t0 = process.hrtime.bigint();
      await pipeline(Readable.from(lines()), c.query(copyFrom(COPY_SQL)));
      const t1 = process.hrtime.bigint();
      const { rowCount } = await c.query("SELECT * FROM stage_flush($1)", [batchId]);
      await c.query("COMMIT");
      const t2 = process.hrtime.bigint();
      const values = entities * attrs.length;
      const copyMs = Number(t1 - t0) / 1e6;
      const flushMs = Number(t2 - t1) / 1e6;
      results.push({
        round: names[r],
        values,
        copyMs: Math.round(copyMs),
        flushMs: Math.round(flushMs),
        touched: rowCount ?? 0,
        flushValuesPerSec: Math.round(values / (flushMs / 1000)),
        totalValuesPerSec: Math.round(values / ((copyMs + flushMs) / 1000)),
      });
    } catch (err) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }
  return results;
}

/** The five typed value columns in COPY text form, one filled. */
function valueColumns(type: string, entity: number, round: number): string {
  const n = "\\N";
  switch (type) {
    case "int":
      return `${entity + round}\t${n}\t${n}\t${n}\t${n}`;
    case "decimal":
      return `${n}\t${(entity % 1000) / 10 + round}\t${n}\t${n}\t${n}`;
    case "bool":
      return `${n}\t${n}\t${(entity + round) % 2 === 0 ? "t" : "f"}\t${n}\t${n}`;
    case "string":
      return `${n}\t${n}\t${n}\tstate-${(entity + round) % 7}\t${n}`;
    default:
      return `${n}\t${n}\t${n}\t${n}\t${new Date(1_700_000_000_000 + entity * 1000 + round).toISOString()}`;
  }
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** The migrations directory, or a copy of it holding only the versions up to `until` (when given). */
function migrationsUntil(until: string | undefined): string {
  const dir = defaultMigrationsDir();
  if (!process.argv.includes("--until") || !until) return dir;
  const copy = mkdtempSync(path.join(tmpdir(), "atlas-migrations-"));
  for (const f of readdirSync(dir).filter((f) => f.slice(0, 6) <= until)) copyFileSync(path.join(dir, f), path.join(copy, f));
  return copy;
}

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is required (the server to make a throwaway database on)");
  const name = `atlas_bench_${randomBytes(4).toString("hex")}`;
  const admin = new Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(url);
  u.pathname = `/${name}`;
  const pool = new Pool({ connectionString: u.toString(), max: 2 });
  try {
    await migrate(pool, { migrationsDir: migrationsUntil(process.argv[process.argv.indexOf("--until") + 1]) });
    const rounds = await benchStageFlush(pool, { entities: arg("entities", 10_000), valuesPerEntity: arg("values", 10) });
    console.table(rounds);
    console.log(JSON.stringify({ stage_flush: rounds }));
  } finally {
    await pool.end();
    if (!process.argv.includes("--keep")) await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.end();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
