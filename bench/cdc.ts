/**
 * CDC freshness: primary commit → warehouse commit, p50/p95, while the
 * ingest path is loaded. The Debezium connector is bound to the database
 * `atlas`, so this stage writes there, under its own tenant (removed at the
 * end unless --keep), through its own API and writer processes (own topic
 * suffix), and reads freshness from a loader with its own consumer group
 * (starting at the newest offsets): for every change event it loads, the
 * loader reports warehouse commit time − source commit time (Debezium
 * source.ts_ms, the primary's commit timestamp).
 */
import { Kafka, logLevel } from "kafkajs";
import { Pool } from "pg";
import { startLoader } from "../app/cdc/loader/loader";
import { connectorStreams, restartConnectorCleanly } from "../app/cdc/register";
import type { StackEnv } from "./db";
import { createBenchTenant, type BenchTenant } from "./db";
import { postBody, Workload } from "./generate";
import { startService, type Service } from "./services";
import { ResourceSampler, round, summarize, type ProcessGroup, type ResourceReport } from "./stats";

export interface CdcOptions {
  runId: string;
  durationSeconds: number;
  concurrency: number;
  seed: number;
  tsNode: boolean;
  keep: boolean;
  groups: (api: Service, writer: Service) => ProcessGroup[];
  log: (s: string) => void;
}

export type CdcResult =
  | { measured: false; reason: string }
  | {
      measured: true;
      events: number;
      values: number;
      load_seconds: number;
      freshness_p50_s: number;
      freshness_p95_s: number;
      freshness_p99_s: number;
      freshness_max_s: number;
      drain_seconds: number;
      ingest_values_per_sec_during: number;
      resources: ResourceReport;
    };

async function connectorState(connectUrl: string | undefined): Promise<string> {
  if (!connectUrl) return "no KAFKA_CONNECT_URL in the stack";
  try {
    const res = await fetch(`${connectUrl}/connectors/atlas-postgres/status`);
    if (res.status === 404) return "the Debezium connector atlas-postgres is not registered (npm run cdc:register / app/cdc/register-cli.ts)";
    const s = (await res.json()) as { connector?: { state?: string }; tasks?: Array<{ state?: string }> };
    const states = [s.connector?.state, ...(s.tasks ?? []).map((t) => t.state)];
    return states.every((x) => x === "RUNNING") && states.length > 1 ? "RUNNING" : `connector states: ${states.join(", ")}`;
  } catch (err) {
    return `Kafka Connect unreachable: ${(err as Error).message}`;
  }
}

export async function runCdc(stack: StackEnv, opts: CdcOptions): Promise<CdcResult> {
  const { log } = opts;
  const state = await connectorState(stack.KAFKA_CONNECT_URL);
  if (state !== "RUNNING") return { measured: false, reason: state };
  if (!stack.WAREHOUSE_URL) return { measured: false, reason: "no WAREHOUSE_URL in the stack" };
  // RUNNING is not enough: a task Connect abandoned (after a Kafka outage) can
  // hold the slot while the status API says RUNNING (app/cdc/register.ts).
  if (!(await connectorStreams(stack.DATABASE_URL, 30_000))) {
    log("cdc: the connector says RUNNING but its slot does not advance; restarting it cleanly");
    await restartConnectorCleanly({ databaseUrl: stack.DATABASE_URL, connectUrl: stack.KAFKA_CONNECT_URL });
    if (!(await connectorStreams(stack.DATABASE_URL, 120_000))) return { measured: false, reason: "the Debezium connector does not stream (its slot does not advance)" };
  }

  // A modest catalog: these rows land in the shared `atlas` database and the warehouse.
  const w = new Workload({ seed: opts.seed, tenants: 1, entities: 5_000, attributes: 200, hotFraction: 0.2, valuesPerReading: 10, readingsPerPost: 500 });
  const pool = new Pool({ connectionString: stack.DATABASE_URL, max: 4, application_name: "atlas-bench-cdc" });
  pool.on("error", () => undefined);
  const warehouse = new Pool({ connectionString: stack.WAREHOUSE_URL, max: 2, application_name: "atlas-bench-cdc" });
  warehouse.on("error", () => undefined);
  const suffix = `.bench-cdc-${opts.runId}`;
  const group = `atlas-bench-cdc-${opts.runId}`;
  let tenant: BenchTenant | undefined;
  let api: Service | undefined;
  let writer: Service | undefined;
  let loader: { stop(): Promise<void> } | undefined;
  try {
    tenant = await createBenchTenant(pool, w, 0, `bench-cdc-${opts.runId}`);
    const common = { DATABASE_URL: stack.DATABASE_URL, KAFKA_BROKERS: stack.KAFKA_BROKERS, ATLAS_TOPIC_SUFFIX: suffix, TENANT_RATE_LIMIT_RPS: "100000" };
    writer = await startService("cdc-writer", { entry: "app/ingest/writer-main.ts", env: { ...common, REDIS_URL: stack.REDIS_URL }, tsNode: opts.tsNode });
    api = await startService("cdc-api", { entry: "app/ingest/main.ts", env: common, tsNode: opts.tsNode });
    await Promise.all([writer.waitReady(), api.waitReady()]);

    const lags: number[] = [];
    let collecting = false;
    loader = await startLoader({
      brokers: stack.KAFKA_BROKERS.split(","),
      warehouseUrl: stack.WAREHOUSE_URL,
      groupId: group,
      fromBeginning: false,
      onBatch: (s) => {
        if (collecting) lags.push(...s.endToEndLagSeconds);
      },
    });
    // Let the group join and the first (idle) fetch happen before the load starts.
    await new Promise((r) => setTimeout(r, 5_000));

    const sampler = new ResourceSampler(opts.groups(api, writer));
    const baseMs = Date.now() - 2 * 3600_000;
    let next = 0;
    let values = 0;
    collecting = true;
    sampler.start();
    const t0 = Date.now();
    log(`cdc: ${opts.durationSeconds} s of ingest load into database atlas (tenant bench-cdc-${opts.runId}), loader group ${group}`);
    await Promise.all(
      Array.from({ length: opts.concurrency }, async () => {
        while (Date.now() - t0 < opts.durationSeconds * 1000) {
          const p = w.post(next++, baseMs);
          const res = await fetch(`${api!.url}/v1/telemetry`, {
            method: "POST",
            headers: { authorization: `Bearer ${tenant!.apiKey}`, "content-type": "application/json" },
            body: postBody(w, p.readings),
          });
          await res.arrayBuffer();
          if (res.status === 202) values += p.readings.reduce((n, r) => n + r.values.length, 0);
          else await new Promise((r) => setTimeout(r, 1000));
        }
      }),
    );
    const loadSeconds = (Date.now() - t0) / 1000;
    log(`cdc: ${values} values accepted; waiting for the warehouse to hold them`);
    const drain0 = Date.now();
    for (const deadline = Date.now() + 300_000; ; ) {
      const { rows } = await warehouse.query<{ n: string }>("SELECT count(*) AS n FROM fact_readings WHERE tenant_id = $1", [tenant.tenantId]);
      if (Number(rows[0].n) >= values) break;
      if (Date.now() > deadline) {
        log(`cdc: warehouse holds ${rows[0].n} of ${values} rows after 5 min; reporting what was loaded`);
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const drainSeconds = (Date.now() - drain0) / 1000;
    collecting = false;
    const resources = sampler.stop();
    const s = summarize(lags.map((x) => x * 1000));
    return {
      measured: true,
      events: s.count,
      values,
      load_seconds: round(loadSeconds, 1),
      freshness_p50_s: round(s.p50_ms / 1000, 2),
      freshness_p95_s: round(s.p95_ms / 1000, 2),
      freshness_p99_s: round(s.p99_ms / 1000, 2),
      freshness_max_s: round(s.max_ms / 1000, 2),
      drain_seconds: round(drainSeconds, 1),
      ingest_values_per_sec_during: Math.round(values / loadSeconds),
      resources,
    };
  } finally {
    await loader?.stop().catch(() => undefined);
    await api?.stop().catch(() => undefined);
    await writer?.stop().catch(() => undefined);
    await deleteTopicsAndGroups(stack.KAFKA_BROKERS, suffix, [group]).catch((err) => log(`cdc: cleanup of topics failed: ${(err as Error).message}`));
    if (tenant && !opts.keep) {
      log("cdc: removing the bench tenant from atlas and the warehouse");
      await removeTenant(pool, warehouse, tenant.tenantId, group).catch((err) => log(`cdc: cleanup failed: ${(err as Error).message}`));
    }
    await pool.end();
    await warehouse.end();
  }
}

async function removeTenant(pool: Pool, warehouse: Pool, tenantId: string, group: string): Promise<void> {
  // As the owner (a superuser locally): history and projection have no foreign key to tenants.
  await pool.query("DELETE FROM entity_values_ts WHERE tenant_id = $1", [tenantId]);
  await pool.query("DELETE FROM entity_jsonb WHERE tenant_id = $1", [tenantId]);
  await pool.query("DELETE FROM tenants WHERE tenant_id = $1", [tenantId]); // cascades to attributes, keys, entities
  for (const table of ["fact_readings", "current_state", "dim_entities", "dim_attributes", "dim_tenants"]) {
    await warehouse.query(`DELETE FROM ${table} WHERE tenant_id = $1`, [tenantId]);
  }
  await warehouse.query("DELETE FROM loader_watermarks WHERE consumer_group = $1", [group]);
}

/** Deletes the topics of a run's suffix and its consumer groups. */
export async function deleteTopicsAndGroups(brokers: string, suffix: string, groups: string[]): Promise<void> {
  const kafka = new Kafka({ clientId: "atlas-bench-cleanup", brokers: brokers.split(","), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.endsWith(suffix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
    const existing = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
    const gone = groups.filter((g) => existing.has(g));
    if (gone.length > 0) await admin.deleteGroups(gone).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}
