/**
 * The bench's own database on the stack's primary (atlas_bench_<time>),
 * migrated like production, dropped at the end unless --keep; and the
 * seeding of tenants, attributes, entities (through the writer's storage
 * step, so the projection is real) and a day of history for time series.
 */
import { execFileSync } from "child_process";
import fs from "fs";
import path from "path";
import { Readable } from "stream";
import { pipeline } from "stream/promises";
import { Client, Pool } from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { migrate } from "../db/migrate";
import { storeBatch, valueColumns } from "../app/ingest/writer/store-batch";
import type { DataType, TelemetryMessage } from "../app/ingest/types";
import { createTenant } from "../app/shared/tenants";
import { REPO } from "./services";
import type { Reading, Workload } from "./generate";

export interface StackEnv {
  DATABASE_URL: string;
  DATABASE_REPLICA_URLS: string;
  REDIS_URL: string;
  KAFKA_BROKERS: string;
  KAFKA_CONNECT_URL: string;
  WAREHOUSE_URL: string;
  /** Where the stack keeps its pid files (up.sh writes it); the bench samples those processes. */
  ATLAS_STACK_DIR?: string;
}

const STACK_ENV = path.join(REPO, ".atlas", "stack.env");

function parseEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

function stackUp(): boolean {
  try {
    const out = execFileSync("bash", [path.join(REPO, "scripts/stack/status.sh")], { cwd: REPO, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const lines = out.split("\n").filter((l) => /^\S+\s+(up|down)/.test(l));
    return lines.length > 0 && lines.every((l) => /\sup\b/.test(l));
  } catch {
    return false;
  }
}

/**
 * The stack's settings; brings the stack up first when any part is down
 * (up.sh is idempotent). ATLAS_STACK_ENV names the stack.env of a stack that
 * another checkout runs on this machine (the ports are the same): it is used
 * as it is, never started here (up.sh would start a second one).
 */
export function ensureStack(log: (s: string) => void): StackEnv {
  const given = process.env.ATLAS_STACK_ENV;
  if (given) {
    log(`using the running stack of ${given} as it is`);
    return checked(parseEnvFile(given), given);
  }
  if (!fs.existsSync(STACK_ENV) || !stackUp()) {
    log("stack not (fully) up: running scripts/stack/up.sh");
    execFileSync("bash", [path.join(REPO, "scripts/stack/up.sh")], { cwd: REPO, stdio: ["ignore", "inherit", "inherit"] });
  }
  return checked(parseEnvFile(STACK_ENV), STACK_ENV);
}

function checked(env: Record<string, string>, file: string): StackEnv {
  for (const k of ["DATABASE_URL", "DATABASE_REPLICA_URLS", "REDIS_URL", "KAFKA_BROKERS"]) {
    if (!env[k]) throw new Error(`${file} has no ${k}`);
  }
  return env as unknown as StackEnv;
}

/** The URL of another database on the same server. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export interface BenchDatabase {
  name: string;
  url: string;
  replicaUrl: string;
  pool: Pool;
  drop(): Promise<void>;
}

async function admin<T>(primaryUrl: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: withDatabase(primaryUrl, "postgres") });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function createBenchDatabase(stack: StackEnv, name: string): Promise<BenchDatabase> {
  await admin(stack.DATABASE_URL, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = withDatabase(stack.DATABASE_URL, name);
  // The replica streams the whole cluster: the bench database is there too.
  const replicaUrl = withDatabase(stack.DATABASE_REPLICA_URLS.split(",")[0], name);
  const pool = new Pool({ connectionString: url, max: 20, application_name: "atlas-bench" });
  pool.on("error", () => undefined); // DROP ... WITH (FORCE) at the end kills idle clients
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await pool.end().catch(() => undefined);
    await admin(stack.DATABASE_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  };
  try {
    await migrate(pool);
    await pool.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    // Nested statements too: the ones inside stage_flush are where the writer's time goes.
    await pool.query(`ALTER DATABASE ${name} SET pg_stat_statements.track = 'all'`);
  } catch (err) {
    await drop();
    throw err;
  }
  return { name, url, replicaUrl, pool, drop };
}

// ---------- tenants and attributes ----------

export interface BenchTenant {
  index: number;
  tenantId: string;
  apiKey: string;
  /** attribute index (Workload.catalog) → attribute_id */
  attributeIds: Int32Array;
  typeOf: (attributeId: number) => DataType | undefined;
}

/** Creates a tenant with the workload's attribute catalog (bulk insert as the owner). */
export async function createBenchTenant(pool: Pool, w: Workload, index: number, name: string): Promise<BenchTenant> {
  const t = await createTenant(pool, name, { rateLimitRps: 1_000_000 });
  const { rows } = await pool.query<{ attribute_id: number; name: string }>(
    `INSERT INTO attributes (tenant_id, name, data_type, is_hot)
     SELECT $1, n, d, h FROM unnest($2::text[], $3::text[], $4::bool[]) AS x(n, d, h)
     RETURNING attribute_id, name`,
    [t.tenant_id, w.catalog.map((a) => a.name), w.catalog.map((a) => a.type), w.catalog.map((a) => a.hot)],
  );
  const byName = new Map(rows.map((r) => [r.name, r.attribute_id]));
  const attributeIds = new Int32Array(w.catalog.length);
  const types = new Map<number, DataType>();
  for (const a of w.catalog) {
    const id = byName.get(a.name)!;
    attributeIds[a.index] = id;
    types.set(id, a.type);
  }
  return { index, tenantId: t.tenant_id, apiKey: t.api_key, attributeIds, typeOf: (id) => types.get(id) };
}

/** A reading as the Kafka message / storage step wants it. */
export function toMessage(t: BenchTenant, r: Reading, receivedAt: string): TelemetryMessage {
  return {
    v: 1,
    tenant_id: t.tenantId,
    received_at: receivedAt,
    entity_id: String(r.entityId),
    entity_type: r.entityType,
    readings: [{ ts: new Date(r.tsMs).toISOString(), values: r.values.map(([a, v]) => [t.attributeIds[a], v]) }],
  };
}

/**
 * Seeds every entity of every tenant with one reading of all common
 * attributes (and a few of its type), through storeBatch (COPY + stage_flush,
 * the writer's own storage step): entities, history and projection as the
 * real path makes them. Two batches in flight.
 */
export async function seedEntities(
  pool: Pool,
  w: Workload,
  tenants: BenchTenant[],
  tsMs: number,
  progress: (done: number) => void,
): Promise<{ values: number; seconds: number }> {
  const t0 = Date.now();
  const per = 5_000;
  const jobs: Array<{ t: BenchTenant; from: number; to: number }> = [];
  for (const t of tenants) for (let from = 1; from <= w.entitiesPerTenant; from += per) jobs.push({ t, from, to: Math.min(w.entitiesPerTenant, from + per - 1) });
  let values = 0;
  let done = 0;
  const received = new Date().toISOString();
  const worker = async () => {
    for (let job = jobs.shift(); job; job = jobs.shift()) {
      const messages: TelemetryMessage[] = [];
      for (let e = job.from; e <= job.to; e++) messages.push(toMessage(job.t, w.seedReading(job.t.index, e, tsMs - (e % 1000)), received));
      const r = await storeBatch(pool, [messages], (_tenant, id) => job.t.typeOf(id));
      values += r.values;
      done += job.to - job.from + 1;
      progress(done);
    }
  };
  await Promise.all([worker(), worker()]);
  return { values, seconds: (Date.now() - t0) / 1000 };
}

const COPY_HISTORY =
  "COPY entity_values_ts (tenant_id, entity_id, attribute_id, ts, received_at, value_int, value_decimal, value_bool, value_string, value_ts) FROM STDIN";

/** COPY-encoded history lines (as the owner, straight into entity_values_ts). */
export async function copyHistory(pool: Pool, lines: Iterable<string> | AsyncIterable<string>): Promise<void> {
  const c = await pool.connect();
  try {
    await pipeline(Readable.from(lines), c.query(copyFrom(COPY_HISTORY)));
  } finally {
    c.release();
  }
}

/** One history line in COPY text format. */
export function historyLine(tenantId: string, entityId: number, attributeId: number, type: DataType, tsIso: string, receivedIso: string, v: number | string | boolean): string {
  return `${tenantId}\t${entityId}\t${attributeId}\t${tsIso}\t${receivedIso}\t${valueColumns(type, v)}\n`;
}

/**
 * A day of history for time-series reads: `entities` entities per tenant
 * (the most active ones), one `battery` point per minute over [dayStart, +24h).
 */
export async function seedDayOfPoints(pool: Pool, tenants: BenchTenant[], entities: number, dayStartMs: number, attributeIndex: number): Promise<number> {
  let n = 0;
  const received = new Date().toISOString();
  function* lines(): Generator<string> {
    let chunk = "";
    for (const t of tenants) {
      const attr = t.attributeIds[attributeIndex];
      for (let e = 1; e <= entities; e++) {
        for (let m = 0; m < 1440; m++) {
          const ts = new Date(dayStartMs + m * 60_000).toISOString();
          chunk += historyLine(t.tenantId, e, attr, "decimal", ts, received, 50 + 40 * Math.sin((m + e) / 90));
          n++;
        }
        if (chunk.length > 64_000) {
          yield chunk;
          chunk = "";
        }
      }
    }
    if (chunk) yield chunk;
  }
  await copyHistory(pool, lines());
  return n;
}
