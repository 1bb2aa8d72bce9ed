/**
 * The ingest API container: migrations, the sink (Kafka, or direct when
 * KAFKA_BROKERS is unset), the HTTP service, graceful shutdown.
 *
 *   node dist/app/ingest/main.js
 */
import { loadConfigOrExit, requireSetting, type AtlasConfig } from "../shared/config";
import { createPool } from "../shared/db";
import { closeServer, createServiceApp, listen } from "../shared/http/server";
import { configureLog, log } from "../shared/log";
import { createRedis } from "../shared/redis";
import { onShutdown } from "../shared/shutdown";
import { migrate } from "../../db/migrate";
import { createIngestRouter } from "./app";
import { createKafka, ensureTopics } from "./kafka";
import { openapi } from "./openapi";
import { createSink } from "./sinks";
import { DEFAULT_TOPICS } from "./types";
import { topicNames } from "./writer";

/** Creates the topics when missing; a broker that is down now is not fatal (readiness reports it). */
export async function prepareTopics(config: AtlasConfig, topics = DEFAULT_TOPICS): Promise<void> {
  if (!config.KAFKA_BROKERS) return;
  const admin = createKafka({ brokers: config.KAFKA_BROKERS, ssl: config.KAFKA_SSL, clientId: "atlas-ingest-admin" }).admin();
  try {
    await admin.connect();
    await ensureTopics(admin, topics);
  } catch (err) {
    log.warn("could not check the kafka topics at start", { error: err });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  configureLog({ level: config.LOG_LEVEL, component: "ingest-api" });
  const pool = createPool(requireSetting(config, "DATABASE_URL"), "ingest");
  const { applied } = await migrate(pool);
  if (applied.length > 0) log.info("migrations applied", { applied });

  // The cache to invalidate after this service's own writes: every write in
  // direct mode (the writer does it in Kafka mode), and imports in both.
  const redis = config.REDIS_URL ? createRedis(config.REDIS_URL, "ingest") : undefined;
  // ATLAS_TOPIC_SUFFIX: tests only (see writer-main.ts); unset in every deployment.
  const topics = topicNames(process.env.ATLAS_TOPIC_SUFFIX ?? "");
  const sink = createSink(config, pool, { redis, topics });
  await prepareTopics(config, topics);
  await sink.ready().catch((err) => log.warn("sink not ready at start", { sink: sink.kind, error: err }));

  const app = createServiceApp({
    routers: [createIngestRouter({ config, pool, sink, redis })],
    readiness: [
      { name: "database", check: () => pool.query("SELECT 1") },
      { name: sink.kind === "kafka" ? "kafka" : "writer", check: () => sink.ready() },
    ],
    openapi,
  });
  const server = await listen(app, config.PORT);
  log.info("ingest api listening", { port: (server.address() as { port: number }).port, sink: sink.kind });

  onShutdown(async () => {
    await closeServer(server); // stop accepting; in-flight requests finish (and get their 202)
    await sink.close();
    redis?.disconnect();
    await pool.end();
  });
}

if (require.main === module) {
  main().catch((err) => {
    log.error("ingest api failed to start", { error: err });
    process.exit(1);
  });
}
