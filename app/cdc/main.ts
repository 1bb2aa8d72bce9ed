/**
 * The cdc-loader container: runs the loader until SIGTERM, then drains the
 * micro-batch in flight (app/shared/shutdown) and exits.
 * `node -r ts-node/register/transpile-only app/cdc/main.ts` locally,
 * `node dist/app/cdc/main.js` in the container.
 */
import { configureLog, log } from "../shared/log";
import { loadConfigOrExit, requireSetting } from "../shared/config";
import { onShutdown } from "../shared/shutdown";
import { startLoader } from "./loader/loader";

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  configureLog({ level: config.LOG_LEVEL, component: "cdc-loader" });
  const loader = await startLoader({
    brokers: requireSetting(config, "KAFKA_BROKERS"),
    ssl: config.KAFKA_SSL,
    warehouseUrl: requireSetting(config, "WAREHOUSE_URL"),
    batchWindowMs: config.CDC_BATCH_WINDOW_MS,
  });
  onShutdown(() => loader.stop());
}

main().catch((err: unknown) => {
  log.error("cdc loader failed to start", { error: err });
  process.exit(1);
});
