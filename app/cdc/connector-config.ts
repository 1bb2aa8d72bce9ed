/**
 * The Debezium PostgreSQL connector configuration: ONE pure function, used by
 * `register-cli.ts` against the local Kafka Connect and by infra/ for MSK
 * Connect, so both run the same connector.
 *
 * Choices (app/cdc/README.md has the longer why):
 * - pgoutput (built into PostgreSQL 10+, the only plugin RDS offers besides
 *   wal2json/test_decoding) and a publication we create ourselves
 *   (publication.ts, `publication.autocreate.mode=disabled`): Debezium's
 *   autocreate would need table ownership and cannot set
 *   publish_via_partition_root.
 * - heartbeat every 10 s plus an action query that writes the heartbeat row:
 *   when the atlas database is idle but the server writes WAL elsewhere
 *   (other databases, autovacuum), the slot still advances and the server
 *   can recycle WAL.
 * - `snapshot.mode=when_needed`: snapshot when there are no offsets (first
 *   start) or the stored offset is no longer available on the server (slot
 *   recreated after invalidation); otherwise stream. Reloading is idempotent
 *   in the warehouse, so an extra snapshot costs time, never correctness.
 * - JSON without schemas (keys and values): the loader knows the tables;
 *   schemas would triple the message size.
 */

/** The Kafka Connect name of the connector (REST path /connectors/atlas-postgres). */
export const CONNECTOR_NAME = "atlas-postgres";
export const PUBLICATION_NAME = "atlas_cdc";
export const SLOT_NAME = "atlas_cdc";
export const TOPIC_PREFIX = "atlas";

/**
 * The tables captured, in the publication and the connector's include list.
 * Never entity_values_staging: it is UNLOGGED (logical decoding cannot see
 * it) and transient anyway. replication_heartbeat is here so heartbeats flow
 * through the same slot and give the loader a watermark when nothing else
 * changes.
 *
 * Neither projection table: the warehouse's current_state follows from the
 * history inserts by the primary's own rule (newest device time wins; ts is
 * part of history's key, so there are no ties), so the narrow latest changes
 * travel as the history rows themselves. Capturing entity_latest would send
 * every value twice; entity_jsonb (the hot search document) is not what
 * analytics read (db/README.md, "Change stream").
 */
export const CAPTURED_TABLES = [
  "entity_values_ts",
  "entities",
  "attributes",
  "tenants",
  "replication_heartbeat",
] as const;
export type CapturedTable = (typeof CAPTURED_TABLES)[number];

/** The Debezium topic of a captured table: `<prefix>.public.<table>`. */
export const topicOf = (table: CapturedTable, prefix = TOPIC_PREFIX) => `${prefix}.public.${table}`;
/** Debezium's own heartbeat topic (`topic.heartbeat.prefix` default `__debezium-heartbeat`). */
export const heartbeatTopicOf = (prefix = TOPIC_PREFIX) => `__debezium-heartbeat.${prefix}`;
/** Every topic the CDC loader reads: one per captured table, and Debezium's heartbeat. */
export const loaderSourceTopics = (prefix = TOPIC_PREFIX) => [...CAPTURED_TABLES.map((t) => topicOf(t, prefix)), heartbeatTopicOf(prefix)];

export interface ConnectorConfigArgs {
  /**
   * The primary, as a postgres:// URL. Must be the writer instance itself:
   * logical replication does not go through RDS Proxy or a reader endpoint.
   */
  databaseUrl: string;
  /**
   * Password override, e.g. an MSK Connect config-provider reference
   * `${secretsmanager:atlas/db:password}` so the secret never sits in the
   * connector config. Defaults to the URL's password (empty locally).
   */
  password?: string;
  /** `disable` locally; `require` on RDS. Defaults to the URL's sslmode, else `disable`. */
  sslMode?: "disable" | "require" | "verify-ca" | "verify-full";
  /** Replication factor of the topics Connect creates. Defaults to 1 (local); 3 on MSK. */
  topicReplicationFactor?: number;
  /** Partitions of the topics Connect creates. Defaults to 3. */
  topicPartitions?: number;
  /** Topic retention, ms. Defaults to 7 days: a stopped loader can catch up within a week. */
  topicRetentionMs?: number;
  /** Debezium heartbeat interval, ms. Defaults to 10 s. */
  heartbeatIntervalMs?: number;
}

/** The connector's config map (all values strings, as the Connect REST API wants them). */
export function buildConnectorConfig(args: ConnectorConfigArgs): Record<string, string> {
  const url = new URL(args.databaseUrl);
  if (!/^postgres(ql)?:$/.test(url.protocol)) {
    throw new Error(`databaseUrl must be a postgres:// URL, got protocol ${url.protocol}`);
  }
  const dbname = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (!dbname) throw new Error("databaseUrl must name the database (postgres://user@host:port/atlas)");
  const user = decodeURIComponent(url.username || "postgres");
  const password = args.password ?? decodeURIComponent(url.password);
  const sslMode = args.sslMode ?? (url.searchParams.get("sslmode") as ConnectorConfigArgs["sslMode"]) ?? "disable";
  const rf = args.topicReplicationFactor ?? 1;
  const partitions = args.topicPartitions ?? 3;
  if (!Number.isInteger(rf) || rf < 1) throw new Error(`topicReplicationFactor must be a positive integer, got ${rf}`);
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`topicPartitions must be a positive integer, got ${partitions}`);

  const json = "org.apache.kafka.connect.json.JsonConverter";
  return {
    "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
    // One task: a replication slot is read by exactly one client.
    "tasks.max": "1",
    "database.hostname": url.hostname,
    "database.port": url.port || "5432",
    "database.user": user,
    "database.password": password,
    "database.dbname": dbname,
    "database.sslmode": sslMode,

    "plugin.name": "pgoutput",
    "publication.name": PUBLICATION_NAME,
    "publication.autocreate.mode": "disabled",
    "slot.name": SLOT_NAME,
    // The slot must outlive connector restarts, or changes in between are lost.
    "slot.drop.on.stop": "false",
    "topic.prefix": TOPIC_PREFIX,
    "schema.include.list": "public",
    // Anchored regexes: the partitions (entity_values_ts_p20261125, …) are not
    // matched; their rows arrive as the root's through publish_via_partition_root.
    "table.include.list": CAPTURED_TABLES.map((t) => `public\\.${t}`).join(","),

    "snapshot.mode": "when_needed",
    "heartbeat.interval.ms": String(args.heartbeatIntervalMs ?? 10_000),
    // The same upsert the services run every second (db/migrations 000004).
    "heartbeat.action.query": "SELECT beat_seq FROM atlas_heartbeat()",

    "decimal.handling.mode": "double",
    // timestamptz always arrives as an ISO-8601 string (ZonedTimestamp), with
    // microseconds; this mode only concerns time/timestamp without zone.
    "time.precision.mode": "adaptive_time_microseconds",
    // Deletes carry the key in `before`; a tombstone would add nothing for us
    // (topics are not compacted).
    "tombstones.on.delete": "false",
    // TRUNCATE is never part of the data path (partitions are dropped, which
    // logical decoding does not publish at all).
    "skipped.operations": "t",

    "key.converter": json,
    "key.converter.schemas.enable": "false",
    "value.converter": json,
    "value.converter.schemas.enable": "false",

    // Topics Connect creates (needs topic.creation.enable, the Connect default).
    "topic.creation.default.replication.factor": String(rf),
    "topic.creation.default.partitions": String(partitions),
    "topic.creation.default.cleanup.policy": "delete",
    "topic.creation.default.retention.ms": String(args.topicRetentionMs ?? 7 * 24 * 3600 * 1000),
  };
}
