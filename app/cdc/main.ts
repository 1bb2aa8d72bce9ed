/**
 * The cdc-loader container: runs the loader (with the scheduled reconcile
 * against DATABASE_URL) until SIGTERM, then drains the micro-batch in flight
 * (app/shared/shutdown) and exits. Serves /healthz, /readyz and /metrics
 * (atlas_cdc_*, atlas_reconcile_differences) on PORT, like the batch writer.
 * `node -r ts-node/register/transpile-only app/cdc/main.ts` locally,
 * `node dist/app/cdc/main.js` in the container.
 */
import { configureLog, log } from "../shared/log";
import { loadConfigOrExit, requireSetting } from "../shared/config";
import { closeServer, createServiceApp, listen } from "../shared/http/server";
import { onShutdown } from "../shared/shutdown";
import { reportAnalyticsFreshness } from "./freshness-report";
import { stageLoaderFromConfig } from "./loader/staging/from-config";
import { startLoader } from "./loader/loader";

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  configureLog({ level: config.LOG_LEVEL, component: "cdc-loader" });
  const loader = await startLoader({
    brokers: requireSetting(config, "KAFKA_BROKERS"),
    ssl: config.KAFKA_SSL,
    warehouseUrl: requireSetting(config, "WAREHOUSE_URL"),
    batchWindowMs: config.CDC_BATCH_WINDOW_MS,
    reconcile: { databaseUrl: requireSetting(config, "DATABASE_URL") },
    stageLoader: (dialect) => stageLoaderFromConfig(config, dialect),
  });
  // The analytics-lag alarm's metric (infra/monitoring/thresholds.ts LOG_METRICS).
  const stopFreshness = reportAnalyticsFreshness(loader.warehouse);
  const app = createServiceApp({
    routers: [],
    readiness: [{ name: "warehouse", check: () => loader.warehouse.query("SELECT 1") }],
    openapi: { openapi: "3.0.3", info: { title: "Atlas CDC loader (health and metrics only)", version: "1.0.0" }, paths: {} },
  });
  const server = await listen(app, config.PORT);
  log.info("cdc loader health endpoint listening", { port: (server.address() as { port: number }).port });
  onShutdown(async () => {
    stopFreshness();
    await closeServer(server);
    await loader.stop();
  });
}

main().catch((err: unknown) => {
  log.error("cdc loader failed to start", { error: err });
  process.exit(1);
});
