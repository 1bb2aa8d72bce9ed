/**
 * The CDC loader as its own process (to be stopped or killed by the fault
 * tests), in the consumer group named by ATLAS_TEST_CDC_GROUP. Not
 * app/cdc/main.ts: that one always joins the production group
 * (atlas-cdc-loader) from the beginning of the topics, which a test must not
 * touch. Like main.ts, SIGTERM drains the micro-batch in flight (onShutdown).
 *
 *   spawnEntry("tests/integration/faults/cdc-loader-proc.ts", { ATLAS_TEST_CDC_GROUP: group })
 */
import { startLoader } from "../../../app/cdc/loader/loader";
import { configureLog, log } from "../../../app/shared/log";
import { onShutdown } from "../../../app/shared/shutdown";
import { requireStackVar } from "../../helpers/stack-env";

configureLog({ level: "info", component: "cdc-loader-test" });
const groupId = process.env.ATLAS_TEST_CDC_GROUP;
if (!groupId) throw new Error("ATLAS_TEST_CDC_GROUP is not set");

startLoader({
  brokers: requireStackVar("KAFKA_BROKERS").split(","),
  warehouseUrl: requireStackVar("WAREHOUSE_URL"),
  groupId,
  batchWindowMs: 500,
  migrate: false,
}).then(
  (loader) => onShutdown(() => loader.stop()),
  (err: unknown) => {
    log.error("cdc loader failed to start", { error: err });
    process.exit(1);
  },
);
