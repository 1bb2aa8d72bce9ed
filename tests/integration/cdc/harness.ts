/**
 * Harness of the CDC suites. Every suite shares the stack's ONE Debezium
 * connector and slot on the `atlas` database (registered here, idempotent),
 * so suites isolate by tenant: each test makes its own tenants and asserts
 * only on their rows. Each loader runs in its own consumer group whose
 * offsets start at the current end of the topics (no replay of older runs'
 * history), loading into the stack's warehouse.
 */
import { randomBytes } from "crypto";
import { Pool } from "pg";
import { migrate } from "../../../db/migrate";
import { ConnectClient } from "../../../app/cdc/connect-client";
import { CONNECTOR_NAME, loaderSourceTopics } from "../../../app/cdc/connector-config";
import { startLoader, type Loader, type LoaderOptions } from "../../../app/cdc/loader/loader";
import { ensureConnectorStreams } from "../../../app/cdc/register";
import { execFile } from "child_process";
import type { AddressInfo } from "net";
import { createQueryRouter } from "../../../app/query/app";
import { queryOpenApi } from "../../../app/query/openapi";
import { parseConfig } from "../../../app/shared/config";
import { closeServer, createServiceApp, listen } from "../../../app/shared/http/server";
import { createKafka } from "../../../app/ingest/kafka";
import { configureLog } from "../../../app/shared/log";
import { migrateWarehouse } from "../../../db/warehouse/migrate";
import { requireStackVar } from "../../helpers/stack-env";

configureLog({ level: (process.env.LOG_LEVEL as "debug" | undefined) ?? "error" });

export const stack = () => ({
  databaseUrl: requireStackVar("DATABASE_URL"),
  warehouseUrl: requireStackVar("WAREHOUSE_URL"),
  brokers: requireStackVar("KAFKA_BROKERS").split(","),
  connectUrl: requireStackVar("KAFKA_CONNECT_URL"),
});

export const connect = () => new ConnectClient(stack().connectUrl);

let pipelineReady: Promise<void> | null = null;

/** Migrates `atlas` and the warehouse, creates the publication and registers the connector (once per process). */
export function ensurePipeline(): Promise<void> {
  pipelineReady ??= (async () => {
    const s = stack();
    const pool = new Pool({ connectionString: s.databaseUrl, max: 2 });
    const wh = new Pool({ connectionString: s.warehouseUrl, max: 2 });
    try {
      await migrate(pool, {});
      await migrateWarehouse(wh);
    } finally {
      await Promise.all([pool.end(), wh.end()]);
    }
    await ensureConnectorStreams({ databaseUrl: s.databaseUrl, connectUrl: s.connectUrl });
  })();
  return pipelineReady;
}

export const sourceTopics = () => loaderSourceTopics();

/** Points a new consumer group at the current end of every source topic. */
export async function startGroupAtEnd(groupId: string): Promise<void> {
  const admin = createKafka({ brokers: stack().brokers, clientId: "atlas-cdc-test-admin" }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    for (const topic of sourceTopics()) {
      if (!existing.has(topic)) {
        await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true }).catch(() => undefined);
      }
      const offsets = await admin.fetchTopicOffsets(topic);
      await admin.setOffsets({ groupId, topic, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.high })) });
    }
  } finally {
    await admin.disconnect();
  }
}

export const newGroupId = () => `atlas-cdc-test-${randomBytes(4).toString("hex")}`;

/** A loader in its own group (starting at the topics' end unless the group already has offsets). */
export async function startTestLoader(opts: Partial<LoaderOptions> & { groupId: string; fresh?: boolean }): Promise<Loader> {
  if (opts.fresh ?? true) await startGroupAtEnd(opts.groupId);
  const s = stack();
  return startLoader({ brokers: s.brokers, warehouseUrl: s.warehouseUrl, batchWindowMs: 500, migrate: false, ...opts });
}

export async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 60_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function factCount(wh: Pool, tenantId: string): Promise<number> {
  const { rows } = await wh.query<{ n: string }>("SELECT count(*) AS n FROM fact_readings WHERE tenant_id = $1", [tenantId]);
  return Number(rows[0].n);
}

export async function historyCount(pool: Pool, tenantId: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>("SELECT count(*) AS n FROM entity_values_ts WHERE tenant_id = $1", [tenantId]);
  return Number(rows[0].n);
}

/** Creates a tenant and typed attributes directly on the primary (as the owner). */
export async function newTenantWithAttributes(
  pool: Pool,
  attrs: Array<[name: string, dataType: string]>,
): Promise<{ tenantId: string; attrs: Map<string, number> }> {
  const { rows } = await pool.query<{ tenant_id: string }>("INSERT INTO tenants (name) VALUES ($1) RETURNING tenant_id", [
    `cdc-test-${randomBytes(5).toString("hex")}`,
  ]);
  const tenantId = rows[0].tenant_id;
  const map = new Map<string, number>();
  for (const [name, dataType] of attrs) {
    const r = await pool.query<{ attribute_id: number }>(
      "INSERT INTO attributes (tenant_id, name, data_type) VALUES ($1, $2, $3) RETURNING attribute_id",
      [tenantId, name, dataType],
    );
    map.set(name, r.rows[0].attribute_id);
  }
  return { tenantId, attrs: map };
}

/** p-quantile of numbers (nearest rank). */
export function quantile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}

export { CONNECTOR_NAME };

/** The query API in-process on the stack's `atlas` database and warehouse (no replicas, no cache). */
export async function startAnalyticsApi(pool: Pool, wh: Pool): Promise<{ url: string; close(): Promise<void> }> {
  const config = parseConfig({ DATABASE_URL: stack().databaseUrl, WAREHOUSE_URL: stack().warehouseUrl, PORT: "0" });
  const app = createServiceApp({ routers: [createQueryRouter({ config, primary: pool, replicas: [], warehouse: wh })], readiness: [], openapi: queryOpenApi });
  const server = await listen(app, 0, "127.0.0.1");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => closeServer(server) };
}

/** `npm run reconcile -- …` as a child, not blocking the event loop (an in-process loader keeps loading and keeps its group membership). */
export const reconcileCli = (args: string[]) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const s = stack();
    const env = { ...process.env, DATABASE_URL: s.databaseUrl, WAREHOUSE_URL: s.warehouseUrl, KAFKA_BROKERS: s.brokers.join(","), LOG_LEVEL: "error" };
    execFile(process.execPath, ["-r", "ts-node/register/transpile-only", "app/cdc/reconcile-cli.ts", ...args], { env, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? Number((err as { code?: unknown }).code ?? -1) : 0, stdout, stderr }));
  });
