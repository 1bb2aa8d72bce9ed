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
import { CONNECTOR_NAME } from "../app/cdc/connector-config";
import { ensurePublication } from "../app/cdc/publication";
import { connectorStreams, registerConnector, restartConnectorCleanly } from "../app/cdc/register";
import { offerLoad } from "./offered-load";
import type { StackEnv } from "./db";
import { createBenchTenant, type BenchTenant } from "./db";
import { postBody, Workload } from "./generate";
import { startService, type Service } from "./services";
import { ResourceSampler, round, summarize, type ProcessGroup, type ResourceReport } from "./stats";

export interface CdcOptions {
  runId: string;
  /** The freshness phase: this rate (values/s) offered for this long. */
  freshnessRate: number;
  freshnessSeconds: number;
  /** The throughput phase. */
  throughputRate: number;
  throughputSeconds: number;
  seed: number;
  tsNode: boolean;
  keep: boolean;
  groups: (api: Service, writer: Service) => ProcessGroup[];
  log: (s: string) => void;
}

export interface CdcPhase {
  offered_values_per_sec: number;
  values: number;
  load_seconds: number;
  late_posts: number;
  drain_seconds: number;
  values_per_sec_end_to_end: number;
  events: number;
  freshness_p50_s: number;
  freshness_p95_s: number;
  freshness_p99_s: number;
  freshness_max_s: number;
}

export type CdcResult =
  | { measured: false; reason: string }
  | {
      measured: true;
      freshness_p50_s: number;
      freshness_p95_s: number;
      sustained_values_per_sec: number;
      freshness: CdcPhase;
      throughput: CdcPhase;
      resources: ResourceReport;
      definitions: Record<string, string>;
    };

/**
 * RUNNING, or why not. Registers the connector (npm run cdc:register does the
 * same) when Connect does not know it, and brings the publication to the
 * captured tables when it does (an older checkout may have registered it).
 */
async function ensureConnector(stack: StackEnv, log: (s: string) => void): Promise<string> {
  const connectUrl = stack.KAFKA_CONNECT_URL;
  if (!connectUrl) return "no KAFKA_CONNECT_URL in the stack";
  try {
    const res = await fetch(`${connectUrl}/connectors/${CONNECTOR_NAME}/status`);
    if (res.status === 404) {
      log(`cdc: the Debezium connector ${CONNECTOR_NAME} is not registered; registering it`);
      await registerConnector({ databaseUrl: stack.DATABASE_URL, connectUrl });
      return ensureConnector(stack, log);
    }
    const primary = new Pool({ connectionString: stack.DATABASE_URL, max: 1 });
    await ensurePublication(primary).finally(() => primary.end());
    const s = (await res.json()) as { connector?: { state?: string }; tasks?: Array<{ state?: string }> };
    const states = [s.connector?.state, ...(s.tasks ?? []).map((t) => t.state)];
    return states.every((x) => x === "RUNNING") && states.length > 1 ? "RUNNING" : `connector states: ${states.join(", ")}`;
  } catch (err) {
    return `Kafka Connect unreachable: ${(err as Error).message}`;
  }
}

export async function runCdc(stack: StackEnv, opts: CdcOptions): Promise<CdcResult> {
  const { log } = opts;
  const state = await ensureConnector(stack, log);
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

    // One open-loop phase: `rate` values/s offered for `seconds`, then wait
    // until the warehouse holds every accepted value.
    let base = Date.now() - 2 * 3600_000;
    let loadedBefore = 0;
    const valuesPerPost = w.opts.readingsPerPost * w.opts.valuesPerReading;
    const phase = async (name: string, rate: number, seconds: number): Promise<CdcPhase> => {
      const phaseBase = base;
      lags.length = 0;
      collecting = true;
      const t0 = Date.now();
      log(`cdc ${name}: ${rate} values/s offered for ${seconds} s into database atlas (tenant bench-cdc-${opts.runId}), loader group ${group}`);
      const load = await offerLoad({
        postsPerSecond: rate / valuesPerPost,
        seconds,
        maxInFlight: 16,
        send: async (i) => {
          const p = w.post(i, phaseBase);
          const res = await fetch(`${api!.url}/v1/telemetry`, {
            method: "POST",
            headers: { authorization: `Bearer ${tenant!.apiKey}`, "content-type": "application/json" },
            body: postBody(w, p.readings),
          }).catch(() => null);
          await res?.arrayBuffer();
          return res?.status === 202 ? p.readings.reduce((n, r) => n + r.values.length, 0) : 0;
        },
      });
      base += load.posts * w.opts.readingsPerPost + 60_000;
      const values = load.accepted_values;
      log(`cdc ${name}: ${values} values accepted in ${round(load.seconds, 1)} s; waiting for the warehouse to hold them`);
      const drain0 = Date.now();
      let loaded = 0;
      for (const deadline = Date.now() + 300_000; ; ) {
        const { rows } = await warehouse.query<{ n: string }>("SELECT count(*) AS n FROM fact_readings WHERE tenant_id = $1", [tenant!.tenantId]);
        loaded = Number(rows[0].n) - loadedBefore;
        if (loaded >= values) break;
        if (Date.now() > deadline) {
          log(`cdc ${name}: warehouse holds ${loaded} of ${values} rows after 5 min; reporting what was loaded`);
          break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      loadedBefore += loaded;
      collecting = false;
      const s = summarize(lags.map((x) => x * 1000));
      const total = (Date.now() - t0) / 1000;
      return {
        offered_values_per_sec: rate,
        values,
        load_seconds: round(load.seconds, 1),
        late_posts: load.late_posts,
        drain_seconds: round((Date.now() - drain0) / 1000, 1),
        values_per_sec_end_to_end: Math.round(loaded / total),
        events: s.count,
        freshness_p50_s: round(s.p50_ms / 1000, 2),
        freshness_p95_s: round(s.p95_ms / 1000, 2),
        freshness_p99_s: round(s.p99_ms / 1000, 2),
        freshness_max_s: round(s.max_ms / 1000, 2),
      };
    };

    const sampler = new ResourceSampler(opts.groups(api, writer));
    sampler.start();
    const freshness = await phase("freshness", opts.freshnessRate, opts.freshnessSeconds);
    const throughput = await phase("throughput", opts.throughputRate, opts.throughputSeconds);
    const resources = sampler.stop();
    return {
      measured: true,
      freshness_p50_s: freshness.freshness_p50_s,
      freshness_p95_s: freshness.freshness_p95_s,
      sustained_values_per_sec: throughput.values_per_sec_end_to_end,
      freshness,
      throughput,
      resources,
      definitions: {
        freshness: "per loaded change event, warehouse commit time − primary commit time (Debezium source.ts_ms), while the freshness rate is offered open loop",
        sustained_values_per_sec: "values offered open loop at the throughput rate: values in the warehouse / (first post → the warehouse holds them all)",
      },
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
  await pool.query("DELETE FROM entity_latest WHERE tenant_id = $1", [tenantId]);
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
