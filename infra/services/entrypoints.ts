import type { ServiceName } from "../../app/shared/config";
import { DEFAULT_TOPICS, WRITER_GROUP_ID } from "../../app/ingest/types";
import { loaderSourceTopics } from "../../app/cdc/connector-config";

/**
 * The command each container runs. One image serves all four services (the
 * repository's Dockerfile); the task definition picks the entry point. These
 * are the same `dist/` files `npm run build` produces and the tests run.
 */
export const SERVICE_COMMANDS: Record<ServiceName, readonly string[]> = {
  "ingest-api": ["node", "dist/app/ingest/main.js"],
  "batch-writer": ["node", "dist/app/ingest/writer-main.js"],
  "query-api": ["node", "dist/app/query/main.js"],
  "cdc-loader": ["node", "dist/app/cdc/main.js"],
};

/** Services behind the ALB, and the port they listen on (the PORT setting). */
export const HTTP_SERVICES = ["ingest-api", "query-api"] as const satisfies readonly ServiceName[];
export type HttpServiceName = (typeof HTTP_SERVICES)[number];
export const CONTAINER_PORT = 8080;

/** Paths the ALB sends to the ingest API; everything else goes to the query API. */
export const INGEST_PATH_PATTERNS = ["/v1/telemetry*", "/v1/attributes*", "/v1/imports*"] as const;

/** Readiness path both APIs serve (contract: GET /readyz). */
export const HEALTH_CHECK_PATH = "/readyz";

/**
 * The CDC loader's consumer group (app/cdc/loader/loader.ts DEFAULT_GROUP_ID;
 * not imported so the program does not load the loader's runtime modules; a
 * test keeps the two equal).
 */
export const CDC_LOADER_GROUP_ID = "atlas-cdc-loader";

/**
 * Kafka consumer groups and the topics they read, for the consumer-lag alarms.
 * Group ids and topic names come from the services' own modules.
 */
export const CONSUMER_GROUPS: ReadonlyArray<{ service: ServiceName; group: string; topics: readonly string[] }> = [
  { service: "batch-writer", group: WRITER_GROUP_ID, topics: [DEFAULT_TOPICS.live, DEFAULT_TOPICS.backfill] },
  // Every topic it reads: a stalled heartbeat or dimension topic stalls the watermark too.
  { service: "cdc-loader", group: CDC_LOADER_GROUP_ID, topics: loaderSourceTopics() },
];
