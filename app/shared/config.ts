/**
 * The one configuration schema of the platform.
 *
 * Services parse `process.env` with it once, at start; the Pulumi program in
 * infra/ builds every container's environment and secrets from the same keys,
 * so renaming a setting here breaks the compile of both, not production.
 */
import { z } from "zod";

/** The four containers of the platform (infra deploys one ECS service each). */
export const SERVICE_NAMES = ["ingest-api", "batch-writer", "query-api", "cdc-loader"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\/\S+$/, "must be a postgres:// or postgresql:// URL");

const csv = (item: z.ZodString) =>
  z
    .string()
    .transform((s) => s.split(",").map((p) => p.trim()).filter((p) => p.length > 0))
    .pipe(z.array(item));

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/**
 * Every environment variable the platform reads. Optional ones have a default
 * or switch a component off (the embedded defaults of `npm start`).
 */
export const configSchema = z.object({
  /** Primary PostgreSQL. Unset: `npm start` runs an embedded PostgreSQL. */
  DATABASE_URL: postgresUrl.optional(),
  /** Streaming replicas for `eventual` reads, comma-separated. */
  DATABASE_REPLICA_URLS: csv(postgresUrl).default([]),
  /** Redis for the query cache. Unset: no cache. */
  REDIS_URL: z.string().regex(/^rediss?:\/\/\S+$/, "must be a redis:// or rediss:// URL").optional(),
  /** Kafka bootstrap brokers, comma-separated host:port. Unset: direct mode (API writes through the writer). */
  KAFKA_BROKERS: csv(z.string().regex(/^[^\s:]+:\d{1,5}$/, "must be host:port")).optional(),
  /** Use TLS to Kafka (MSK in AWS). */
  KAFKA_SSL: z.stringbool().default(false),
  /** Kafka Connect REST API, where the Debezium connector is registered. */
  KAFKA_CONNECT_URL: z.string().regex(/^https?:\/\/\S+$/, "must be an http(s):// URL").optional(),
  /** Analytics warehouse (Redshift in AWS, a PostgreSQL database locally). */
  WAREHOUSE_URL: postgresUrl.optional(),
  /** HTTP port. Defaults to 8080. */
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),

  /** Largest request body accepted, bytes. Defaults to 5 MiB. */
  INGEST_MAX_BODY_BYTES: positiveInt(5 * 1024 * 1024),
  /** Readings per request. Defaults to 10,000. */
  INGEST_MAX_READINGS: positiveInt(10_000),
  /** Attributes per reading. Defaults to 500. */
  INGEST_MAX_ATTRIBUTES: positiveInt(500),
  /** Readings older than this take the backfill lane. Defaults to 7 days. */
  INGEST_LIVE_WINDOW_SECONDS: positiveInt(7 * 24 * 3600),
  /** Readings further in the future than this are rejected. Defaults to 10 minutes. */
  INGEST_MAX_CLOCK_SKEW_SECONDS: positiveInt(600),
  /** Per-tenant request budget per second (token bucket). Defaults to 200. */
  TENANT_RATE_LIMIT_RPS: positiveInt(200),

  /** Cache TTL of latest values, seconds. Defaults to 60. */
  CACHE_TTL_SECONDS: positiveInt(60),
  /** Replica lag accepted for `eventual` reads when the caller sets none. Defaults to 3 s. */
  DEFAULT_MAX_LAG_SECONDS: z.coerce.number().positive().default(3),
  /** Largest time-series span, days. Defaults to 31. */
  TIMESERIES_MAX_SPAN_DAYS: positiveInt(31),

  /** Loader micro-batch window, milliseconds. Defaults to 2000. */
  CDC_BATCH_WINDOW_MS: positiveInt(2000),
  /**
   * S3 bucket the CDC loader stages each micro-batch in before COPY (Redshift
   * reads it with WAREHOUSE_IAM_ROLE_ARN; a PostgreSQL warehouse gets the
   * object streamed back). Unset: the loader COPYs from STDIN.
   */
  CDC_S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name").optional(),
  /** Key prefix of staged objects; infra scopes the IAM policies to it. Defaults to cdc-staging. */
  CDC_S3_PREFIX: z.string().regex(/^[a-z0-9][a-z0-9_-]*(\/[a-z0-9][a-z0-9_-]*)*$/, "must be a key prefix like cdc-staging (no leading or trailing /)").default("cdc-staging"),
  /** Region of the staging bucket. Defaults to us-east-1. */
  CDC_S3_REGION: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, "must be an AWS region such as us-east-1").default("us-east-1"),
  /** An S3-compatible server instead of AWS S3 (the local stack's). Unset in AWS. */
  CDC_S3_ENDPOINT: z.string().regex(/^https?:\/\/\S+$/, "must be an http(s):// URL").optional(),
  /** Access key of the local S3-compatible server. Unset in AWS: the task role's credentials sign. */
  CDC_S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  /** Secret key of the local S3-compatible server (local dummy). Unset in AWS. */
  CDC_S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  /** The IAM role attached to the Redshift cluster that COPY assumes to read the staging bucket. Set: the warehouse is Redshift. */
  WAREHOUSE_IAM_ROLE_ARN: z.string().regex(/^arn:[\w-]+:[\w-]+:[\w-]*:\d{12}:\S+$/, "must be an ARN").optional(),
  /**
   * History retention of tenants without their own, days. Older readings are
   * refused at ingest; partitions older than the longest tenant retention are
   * dropped. Defaults to 400.
   */
  RETENTION_DAYS: positiveInt(400),
  /** How often the batch writer runs partition maintenance, seconds. Defaults to 3600. */
  PARTITION_MAINTENANCE_INTERVAL_SECONDS: positiveInt(3600),

  /**
   * Key that seals the webhook signing secrets in PostgreSQL (AES-256-GCM),
   * base64 of 32 random bytes (`openssl rand -base64 32`). Unset: the webhook
   * API answers 503 and no delivery worker runs (`npm start` makes one under .atlas/).
   */
  WEBHOOK_SECRET_KEY: z
    .string()
    .refine((s) => Buffer.from(s, "base64").length === 32, "must be base64 of exactly 32 bytes (openssl rand -base64 32)")
    .optional(),
  /** Allow webhook targets on loopback, private and link-local addresses and plain http (local and test setups only). Defaults to false. */
  WEBHOOK_ALLOW_PRIVATE_TARGETS: z.stringbool().default(false),
  /** Requests in flight per webhook endpoint (per worker process). Defaults to 4. */
  WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT: positiveInt(4),
});

export type AtlasConfig = z.infer<typeof configSchema>;
/** The name of an environment variable of the schema. */
export type SettingName = keyof typeof configSchema.shape;

/** Settings that carry credentials: infra passes them as ECS secrets, logs never print them. */
export const SECRET_SETTINGS = [
  "DATABASE_URL",
  "DATABASE_REPLICA_URLS",
  "REDIS_URL",
  "WAREHOUSE_URL",
  "WEBHOOK_SECRET_KEY",
] as const satisfies readonly SettingName[];
export type SecretSettingName = (typeof SECRET_SETTINGS)[number];

/** What each container needs to run in a deployed environment. */
export const SERVICE_SETTINGS: Record<ServiceName, readonly SettingName[]> = {
  "ingest-api": ["DATABASE_URL", "KAFKA_BROKERS", "KAFKA_SSL", "REDIS_URL", "PORT", "LOG_LEVEL", "CACHE_TTL_SECONDS", "INGEST_MAX_BODY_BYTES", "INGEST_MAX_READINGS", "INGEST_MAX_ATTRIBUTES", "INGEST_LIVE_WINDOW_SECONDS", "INGEST_MAX_CLOCK_SKEW_SECONDS", "TENANT_RATE_LIMIT_RPS", "RETENTION_DAYS"],
  "batch-writer": ["DATABASE_URL", "KAFKA_BROKERS", "KAFKA_SSL", "REDIS_URL", "LOG_LEVEL", "CACHE_TTL_SECONDS", "RETENTION_DAYS", "PARTITION_MAINTENANCE_INTERVAL_SECONDS", "WEBHOOK_SECRET_KEY", "WEBHOOK_ALLOW_PRIVATE_TARGETS", "WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT"],
  "query-api": ["DATABASE_URL", "DATABASE_REPLICA_URLS", "REDIS_URL", "WAREHOUSE_URL", "PORT", "LOG_LEVEL", "CACHE_TTL_SECONDS", "DEFAULT_MAX_LAG_SECONDS", "TIMESERIES_MAX_SPAN_DAYS", "TENANT_RATE_LIMIT_RPS", "RETENTION_DAYS", "WEBHOOK_SECRET_KEY", "WEBHOOK_ALLOW_PRIVATE_TARGETS"],
  "cdc-loader": ["DATABASE_URL", "KAFKA_BROKERS", "KAFKA_SSL", "WAREHOUSE_URL", "PORT", "LOG_LEVEL", "CDC_BATCH_WINDOW_MS", "CDC_S3_BUCKET", "CDC_S3_PREFIX", "CDC_S3_REGION", "WAREHOUSE_IAM_ROLE_ARN"],
};

export class ConfigError extends Error {
  constructor(public readonly setting: string, reason: string) {
    super(`invalid configuration: ${setting} ${reason}`);
    this.name = "ConfigError";
  }
}

/** Parses the environment once; throws a ConfigError naming the first bad setting. */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): AtlasConfig {
  const present: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== "") present[key] = value;
  }
  const result = configSchema.safeParse(present);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const setting = String(issue.path[0] ?? "configuration");
  throw new ConfigError(setting, issue.message);
}

/** Requires a setting that is optional in the schema but needed by the caller. */
export function requireSetting<K extends SettingName>(config: AtlasConfig, key: K): NonNullable<AtlasConfig[K]> {
  const value = config[key];
  if (value === undefined || value === null) throw new ConfigError(key, "is required");
  return value as NonNullable<AtlasConfig[K]>;
}

/**
 * The process-level entry: parse or exit with one clear line (the contract:
 * "a missing required setting or a malformed one stops the process at start").
 */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): AtlasConfig {
  try {
    return parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}
