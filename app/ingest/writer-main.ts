/**
 * The batch writer as its own process (its own ECS service): consumes the
 * live and backfill topics, stores, commits. Serves /healthz, /readyz and
 * /metrics on PORT. SIGTERM: the batches in hand are stored and committed,
 * then the consumer leaves the group and everything disconnects.
 *
 *   node dist/app/ingest/writer-main.js
 *
 * ATLAS_TOPIC_SUFFIX (not a platform setting; tests only) is appended to the
 * topic names and the group id so a test run never sees another's messages.
 * ATLAS_MAINTENANCE_CLOCK_OFFSET_DAYS (tests only) moves the maintenance clock.
 */
import { loadConfigOrExit, requireSetting } from "../shared/config";
import { createPool } from "../shared/db";
import { closeServer, createServiceApp, listen } from "../shared/http/server";
import { configureLog, log } from "../shared/log";
import { createRedis } from "../shared/redis";
import { onShutdown } from "../shared/shutdown";
import { migrate } from "../../db/migrate";
import { startLifecycle } from "../lifecycle/background";
import { startWebhookWorker } from "../webhooks";
import { createBatchWriter } from "./writer";

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  configureLog({ level: config.LOG_LEVEL, component: "batch-writer" });
  requireSetting(config, "KAFKA_BROKERS");
  // Flushes of big batches take longer than an API query: a longer statement timeout.
  const pool = createPool(requireSetting(config, "DATABASE_URL"), "writer", { max: 6, statementTimeoutMs: 120_000 });
  await migrate(pool);
  const redis = config.REDIS_URL ? createRedis(config.REDIS_URL, "writer") : undefined;
  const writer = createBatchWriter(config, pool, redis, { suffix: process.env.ATLAS_TOPIC_SUFFIX ?? "" });
  await writer.start();
  // Partition maintenance, retention and deletion jobs: nobody else runs them.
  const stopLifecycle = startLifecycle(config, pool, redis);
  // Webhook delivery (app/webhooks): the outbox this writer fills, sent from here.
  const webhooks = startWebhookWorker(config, pool);

  const app = createServiceApp({
    routers: [],
    readiness: [
      { name: "database", check: () => pool.query("SELECT 1") },
      {
        name: "consumer",
        check: async () => {
          if (!writer.isRunning()) throw new Error("consumer not running");
        },
      },
    ],
    openapi: { openapi: "3.0.3", info: { title: "Atlas batch writer (health and metrics only)", version: "1.0.0" }, paths: {} },
  });
  const server = await listen(app, config.PORT);
  log.info("batch writer health endpoint listening", { port: (server.address() as { port: number }).port });

  onShutdown(async () => {
    await writer.stop();
    await webhooks?.stop();
    await stopLifecycle();
    await closeServer(server);
    redis?.disconnect();
    await pool.end();
  });
}

main().catch((err) => {
  log.error("batch writer failed", { error: err });
  process.exit(1);
});
