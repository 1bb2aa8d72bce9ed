/**
 * The query container: the query API alone (ECS service query-api).
 * Applies the migrations too (idempotent, serialised by an advisory lock),
 * so it never starts against a schema older than its code.
 */
import { migrate } from "../../db/migrate";
import { loadConfigOrExit, requireSetting } from "../shared/config";
import { createPool } from "../shared/db";
import { configureLog, log } from "../shared/log";
import { createRedis } from "../shared/redis";
import { closeServer, createServiceApp, listen } from "../shared/http/server";
import { onShutdown } from "../shared/shutdown";
import { createQueryRouter } from "./app";
import { queryOpenApi } from "./openapi";
import { ReplicaSet } from "./routing/replica-set";

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  configureLog({ level: config.LOG_LEVEL, component: "query-api" });
  const primary = createPool(requireSetting(config, "DATABASE_URL"), "primary");
  await migrate(primary);

  const replicas = ReplicaSet.fromUrls(primary, config.DATABASE_REPLICA_URLS);
  replicas.start();
  const redis = config.REDIS_URL ? createRedis(config.REDIS_URL, "query-cache") : undefined;
  const warehouse = config.WAREHOUSE_URL ? createPool(config.WAREHOUSE_URL, "warehouse") : undefined;

  const app = createServiceApp({
    routers: [createQueryRouter({ config, primary, replicas, redis, warehouse })],
    readiness: [{ name: "primary", check: () => primary.query("SELECT 1") }],
    openapi: queryOpenApi,
  });
  const server = await listen(app, config.PORT);
  log.info("query api listening", { port: config.PORT, replicas: replicas.nodes.length, cache: Boolean(redis), warehouse: Boolean(warehouse) });

  onShutdown(async () => {
    await closeServer(server);
    await replicas.stop();
    redis?.disconnect();
    await warehouse?.end();
    await primary.end();
  });
}

main().catch((err) => {
  log.error("query api failed to start", { error: err });
  process.exit(1);
});
