/**
 * The real local stack's connection settings, as `npm test` exports them from
 * `.atlas/stack.env` (written by `npm run stack:up`).
 *
 * A missing setting throws, naming it: integration tests run against the real
 * stack or fail — they are never skipped silently.
 */

/** The variables of `.atlas/stack.env` (names of app/shared/config.ts). */
export const STACK_ENV_NAMES = [
  "DATABASE_URL",
  "DATABASE_REPLICA_URLS",
  "REDIS_URL",
  "KAFKA_BROKERS",
  "KAFKA_CONNECT_URL",
  "WAREHOUSE_URL",
  "CDC_S3_BUCKET",
  "CDC_S3_ENDPOINT",
  "CDC_S3_ACCESS_KEY_ID",
  "CDC_S3_SECRET_ACCESS_KEY",
] as const;
export type StackEnvName = (typeof STACK_ENV_NAMES)[number];

export interface StackEnv {
  /** Primary PostgreSQL, database `atlas` (127.0.0.1:55432). */
  databaseUrl: string;
  /** Streaming replicas of the primary, database `atlas` (127.0.0.1:55433). */
  replicaUrls: string[];
  /** The stack's own Redis (127.0.0.1:56379). */
  redisUrl: string;
  /** Kafka bootstrap brokers as host:port (127.0.0.1:59092). */
  kafkaBrokers: string[];
  /** Kafka Connect REST API (http://127.0.0.1:58083), no trailing slash. */
  kafkaConnectUrl: string;
  /** The local warehouse: database `atlas_warehouse` on the primary. */
  warehouseUrl: string;
}

export class StackEnvError extends Error {
  constructor(public readonly variable: StackEnvName) {
    super(
      `${variable} is not set: the integration tests need the real local stack. ` +
        "Run them with `npm test` (it starts the stack and exports .atlas/stack.env), " +
        "or `npm run stack:up && set -a && . .atlas/stack.env && set +a` before mocha.",
    );
    this.name = "StackEnvError";
  }
}

/** One variable of the stack's settings; throws a StackEnvError naming it when unset. */
export function requireStackVar(name: StackEnvName, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name]?.trim();
  if (!value) throw new StackEnvError(name);
  return value;
}

const list = (value: string): string[] =>
  value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

/** All of the stack's settings; throws on the first missing one. */
export function stackEnv(env: NodeJS.ProcessEnv = process.env): StackEnv {
  return {
    databaseUrl: requireStackVar("DATABASE_URL", env),
    replicaUrls: list(requireStackVar("DATABASE_REPLICA_URLS", env)),
    redisUrl: requireStackVar("REDIS_URL", env),
    kafkaBrokers: list(requireStackVar("KAFKA_BROKERS", env)),
    kafkaConnectUrl: requireStackVar("KAFKA_CONNECT_URL", env).replace(/\/+$/, ""),
    warehouseUrl: requireStackVar("WAREHOUSE_URL", env),
  };
}

/** The local S3-compatible server (S3Proxy, scripts/stack/s3.sh) and the CDC staging bucket on it. */
export interface S3StagingEnv {
  bucket: string;
  /** http://127.0.0.1:59000 */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** The S3 part's settings (only the staging tests need them, so stackEnv() does not require them). */
export function s3StagingEnv(env: NodeJS.ProcessEnv = process.env): S3StagingEnv {
  return {
    bucket: requireStackVar("CDC_S3_BUCKET", env),
    endpoint: requireStackVar("CDC_S3_ENDPOINT", env).replace(/\/+$/, ""),
    accessKeyId: requireStackVar("CDC_S3_ACCESS_KEY_ID", env),
    secretAccessKey: requireStackVar("CDC_S3_SECRET_ACCESS_KEY", env),
  };
}
