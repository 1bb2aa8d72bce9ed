/**
 * `npm start`: the whole platform in one process, on one port, routed by path
 * as the ALB routes it (/v1/telemetry and /v1/attributes → ingest, the rest →
 * query). Each component runs when its dependency is configured:
 *
 *   DATABASE_URL unset   → an embedded PostgreSQL under .atlas/
 *   KAFKA_BROKERS unset  → the ingest API writes straight through the writer's storage step
 *   KAFKA_BROKERS set    → the batch writer consumes in this process too
 *   REDIS_URL unset      → no cache (X-Cache-Status: bypass)
 *   WAREHOUSE_URL + KAFKA_BROKERS set → the CDC loader runs too (and answers /v1/analytics)
 *   KAFKA_CONNECT_URL set too → the publication and the Debezium connector are registered
 *   always               → partition maintenance, retention and deletion jobs, webhook delivery
 *                          (WEBHOOK_SECRET_KEY unset → a key made under .atlas/)
 *
 * On first start a `demo` tenant is created; its key is printed and written,
 * with the URL, to .atlas/local.env for scripts.
 */
import fs from "fs";
import path from "path";
import { migrate } from "../db/migrate";
import { loadConfigOrExit, type AtlasConfig } from "./shared/config";
import { createPool, type Pool } from "./shared/db";
import { startEmbeddedPostgres } from "./shared/embedded-postgres";
import { closeServer, createServiceApp, listen } from "./shared/http/server";
import { configureLog, log } from "./shared/log";
import { createRedis } from "./shared/redis";
import { onShutdown } from "./shared/shutdown";
import { authenticate, createApiKey, createTenant, findTenantIdByName } from "./shared/tenants";
import { createIngestRouter } from "./ingest/app";
import { prepareTopics } from "./ingest/main";
import { createSink } from "./ingest/sinks";
import { createBatchWriter } from "./ingest/writer";
import { reportAnalyticsFreshness } from "./cdc/freshness-report";
import { stageLoaderFromConfig } from "./cdc/loader/staging/from-config";
import { startLoader } from "./cdc/loader/loader";
import { ensureConnectorStreams } from "./cdc/register";
import { startLifecycle } from "./lifecycle/background";
import { createQueryRouter } from "./query/app";
import { combinedOpenApi } from "./openapi";
import { ReplicaSet } from "./query/routing/replica-set";
import { localSecretKey, startWebhookWorker } from "./webhooks";

const ATLAS_DIR = path.resolve(process.env.ATLAS_DIR ?? ".atlas");
const LOCAL_ENV = path.join(ATLAS_DIR, "local.env");
const DEMO_TENANT = "demo";
/** Where the embedded PostgreSQL listens (a dev-only knob, not a platform setting). Defaults to 54329. */
const EMBEDDED_PG_PORT = Number(process.env.ATLAS_EMBEDDED_PG_PORT ?? 54329);

/** Reuses the demo key of .atlas/local.env while it still works; else makes the tenant or a new key. */
async function demoApiKey(pool: Pool): Promise<string> {
  const previous = fs.existsSync(LOCAL_ENV) ? /^ATLAS_API_KEY=(\S+)$/m.exec(fs.readFileSync(LOCAL_ENV, "utf8"))?.[1] : undefined;
  if (previous && (await authenticate(pool, previous))) return previous;
  const tenantId = await findTenantIdByName(pool, DEMO_TENANT);
  if (tenantId) return (await createApiKey(pool, tenantId)).api_key;
  return (await createTenant(pool, DEMO_TENANT)).api_key;
}

function writeLocalEnv(values: Record<string, string>): void {
  fs.mkdirSync(ATLAS_DIR, { recursive: true });
  const body = Object.entries(values).map(([k, v]) => `${k}=${v}`).join("\n") + "\n";
  // The file holds an API key: readable by its owner only.
  fs.writeFileSync(LOCAL_ENV, body, { mode: 0o600 });
}

/**
 * The CDC pipeline of the stack: the connector (when Kafka Connect is
 * configured) and the loader (when the warehouse and Kafka are). A connector
 * that cannot be registered is reported, not fatal: ingest and queries work
 * without analytics, and the analytics answers say how stale they are.
 */
async function startCdc(config: AtlasConfig & { DATABASE_URL: string }) {
  let connector: string | undefined;
  if (config.KAFKA_CONNECT_URL && config.WAREHOUSE_URL) {
    try {
      const status = await ensureConnectorStreams({ databaseUrl: config.DATABASE_URL, connectUrl: config.KAFKA_CONNECT_URL });
      connector = status.connector.state.toLowerCase();
    } catch (err) {
      connector = "not registered";
      log.warn("the Debezium connector could not be registered; analytics will not follow (npm run cdc:register)", { error: err });
    }
  }
  const loader =
    config.WAREHOUSE_URL && config.KAFKA_BROKERS
      ? await startLoader({
          brokers: config.KAFKA_BROKERS,
          ssl: config.KAFKA_SSL,
          warehouseUrl: config.WAREHOUSE_URL,
          batchWindowMs: config.CDC_BATCH_WINDOW_MS,
          reconcile: { databaseUrl: config.DATABASE_URL },
          stageLoader: (dialect) => stageLoaderFromConfig(config, dialect),
        })
      : undefined;
  const stopFreshness = loader ? reportAnalyticsFreshness(loader.warehouse) : undefined;
  return { connector, loader, stopFreshness };
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  configureLog({ level: config.LOG_LEVEL, component: "atlas" });

  const embedded = config.DATABASE_URL ? undefined : await startEmbeddedPostgres(ATLAS_DIR, EMBEDDED_PG_PORT);
  const databaseUrl = config.DATABASE_URL ?? embedded!.url;
  const runtimeConfig = { ...config, DATABASE_URL: databaseUrl, WEBHOOK_SECRET_KEY: config.WEBHOOK_SECRET_KEY ?? localSecretKey(ATLAS_DIR) };
  const pool = createPool(databaseUrl, "primary", { max: 20 });
  const { applied } = await migrate(pool);
  if (applied.length > 0) log.info("migrations applied", { applied });
  const apiKey = await demoApiKey(pool);

  const redis = config.REDIS_URL ? createRedis(config.REDIS_URL, "cache") : undefined;
  const sink = createSink(runtimeConfig, pool, { redis });
  await prepareTopics(runtimeConfig);
  const writer = config.KAFKA_BROKERS ? createBatchWriter(runtimeConfig, pool, redis) : undefined;
  await writer?.start();
  const stopLifecycle = startLifecycle(runtimeConfig, pool, redis);
  const webhooks = startWebhookWorker(runtimeConfig, pool);

  const replicas = ReplicaSet.fromUrls(pool, config.DATABASE_REPLICA_URLS);
  replicas.start();
  const cdc = await startCdc(runtimeConfig);
  const warehouse = cdc.loader?.warehouse ?? (config.WAREHOUSE_URL ? createPool(config.WAREHOUSE_URL, "warehouse") : undefined);

  const app = createServiceApp({
    routers: [
      createIngestRouter({ config: runtimeConfig, pool, sink, redis }),
      createQueryRouter({ config: runtimeConfig, primary: pool, replicas, redis, warehouse }),
    ],
    readiness: [
      { name: "database", check: () => pool.query("SELECT 1") },
      { name: sink.kind === "kafka" ? "kafka" : "writer", check: () => sink.ready() },
    ],
    openapi: combinedOpenApi,
  });
  const server = await listen(app, config.PORT);
  const port = (server.address() as { port: number }).port;
  const url = `http://localhost:${port}`;
  writeLocalEnv({ ATLAS_URL: url, ATLAS_API_KEY: apiKey, DATABASE_URL: databaseUrl });
  process.stdout.write(
    `\nAtlas Telemetry is running at ${url}\n` +
      `  demo API key: ${apiKey}\n` +
      `  components: ingest (${sink.kind}), query (${replicas.nodes.length} replica(s), cache ${redis ? "on" : "off"})` +
      `${writer ? ", batch writer" : ""}${cdc.connector ? `, debezium connector (${cdc.connector})` : ""}` +
      `${cdc.loader ? ", cdc loader" : ""}${warehouse ? ", warehouse" : ""}, webhook delivery\n` +
      `  settings for scripts: ${LOCAL_ENV}\n\n`,
  );

  onShutdown(async () => {
    await closeServer(server);
    await writer?.stop();
    await webhooks?.stop();
    await stopLifecycle();
    await sink.close();
    await replicas.stop();
    redis?.disconnect();
    cdc.stopFreshness?.();
    if (cdc.loader) await cdc.loader.stop();
    else await warehouse?.end();
    await pool.end();
    await embedded?.stop();
  });
}

main().catch((err) => {
  log.error("atlas failed to start", { error: err });
  process.exit(1);
});
