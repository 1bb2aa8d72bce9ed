/**
 * 0001: the analytics warehouse as first loaded by the CDC loader
 * (app/cdc/loader) from the Debezium topics. Landed as 0001_warehouse.sql;
 * its PostgreSQL rendering is that file's DDL, statement for statement.
 * Never edit a landed migration (tests/unit/cdc/warehouse-ddl.test.ts pins
 * its rendering): change the schema with the next one.
 *
 * No ON CONFLICT anywhere in the warehouse: the loader merges with
 * DELETE … USING + INSERT … SELECT from a temp table, which both dialects run.
 */
import type { Migration, Table } from "../schema";

/**
 * One row per reading ever stored on the primary (entity_values_ts), with its
 * dimensions denormalised (entity_type, attribute_name, data_type) and the
 * value in one column per kind. Key = the primary's key.
 */
const factReadings: Table = {
  name: "fact_readings",
  columns: [
    { name: "tenant_id", type: "varchar(36)", notNull: true },
    { name: "entity_id", type: "bigint", notNull: true },
    { name: "attribute_id", type: "int", notNull: true },
    { name: "ts", type: "timestamptz", notNull: true }, // device time
    { name: "day", type: "date", notNull: true }, // UTC day of ts
    { name: "entity_type", type: "varchar(256)" }, // NULL until the entity's dimension row arrived
    { name: "attribute_name", type: "varchar(128)" }, // NULL until the attribute's dimension row arrived
    { name: "data_type", type: "varchar(16)", notNull: true }, // int | decimal | bool | string | timestamp
    { name: "value_num", type: "double precision" }, // int and decimal
    { name: "value_text", type: "varchar(65535)" },
    { name: "value_bool", type: "boolean" },
    { name: "value_ts", type: "timestamptz" },
    { name: "received_at", type: "timestamptz" },
    { name: "source_ts", type: "timestamptz", notNull: true }, // commit time on the primary (Debezium source.ts_ms)
    { name: "source_lsn", type: "bigint", notNull: true },
    { name: "loaded_at", type: "timestamptz", notNull: true }, // when the loader wrote it (its transaction commits right after)
  ],
  primaryKey: ["tenant_id", "entity_id", "attribute_id", "ts"],
  // Rows of an entity on one slice, as current_state's, so deriving the
  // latest values from the facts joins without redistribution; sorted for the
  // analytics scans (one tenant, one attribute, a time range).
  redshift: { distStyle: "key", distKey: "entity_id", sortKey: { style: "compound", columns: ["tenant_id", "attribute_id", "ts"] } },
  postgresIndexes: [
    // Analytics per attribute over a time range, always within one tenant.
    { name: "fact_readings_attribute_ts", columns: ["tenant_id", "attribute_id", "ts"] },
    // Reconciliation counts per tenant and day.
    { name: "fact_readings_tenant_day", columns: ["tenant_id", "day"] },
  ],
};

/**
 * The latest value of every attribute of every entity, from the primary's
 * projection (entity_jsonb.latest), keyed by attribute name. Replaced by a
 * table keyed by attribute id in 0002.
 */
const currentStateByName: Table = {
  name: "current_state",
  columns: [
    { name: "tenant_id", type: "varchar(36)", notNull: true },
    { name: "entity_id", type: "bigint", notNull: true },
    { name: "attribute_name", type: "varchar(128)", notNull: true },
    { name: "attribute_id", type: "int" },
    { name: "entity_type", type: "varchar(256)" },
    { name: "value_num", type: "double precision" },
    { name: "value_text", type: "varchar(65535)" },
    { name: "value_bool", type: "boolean" },
    { name: "ts", type: "timestamptz", notNull: true },
    { name: "source_lsn", type: "bigint", notNull: true },
    { name: "loaded_at", type: "timestamptz", notNull: true },
  ],
  primaryKey: ["tenant_id", "entity_id", "attribute_name"],
  redshift: { distStyle: "key", distKey: "entity_id", sortKey: { style: "compound", columns: ["tenant_id", "entity_id"] } },
};

// Dimensions are small and joined by every analytics query: a full copy on
// every node (DISTSTYLE ALL) makes those joins local.
const dimTenants: Table = {
  name: "dim_tenants",
  columns: [
    { name: "tenant_id", type: "varchar(36)", notNull: true },
    { name: "name", type: "varchar(200)", notNull: true },
    { name: "created_at", type: "timestamptz" },
    { name: "source_lsn", type: "bigint", notNull: true },
    { name: "loaded_at", type: "timestamptz", notNull: true },
  ],
  primaryKey: ["tenant_id"],
  redshift: { distStyle: "all" },
};

const dimAttributes: Table = {
  name: "dim_attributes",
  columns: [
    { name: "tenant_id", type: "varchar(36)", notNull: true },
    { name: "attribute_id", type: "int", notNull: true },
    { name: "name", type: "varchar(128)", notNull: true },
    { name: "data_type", type: "varchar(16)", notNull: true },
    { name: "is_hot", type: "boolean", notNull: true },
    { name: "created_at", type: "timestamptz" },
    { name: "source_lsn", type: "bigint", notNull: true },
    { name: "loaded_at", type: "timestamptz", notNull: true },
  ],
  primaryKey: ["tenant_id", "attribute_id"],
  redshift: { distStyle: "all" },
  postgresIndexes: [{ name: "dim_attributes_name", columns: ["tenant_id", "name"] }],
};

const dimEntities: Table = {
  name: "dim_entities",
  columns: [
    { name: "tenant_id", type: "varchar(36)", notNull: true },
    { name: "entity_id", type: "bigint", notNull: true },
    { name: "entity_type", type: "varchar(256)", notNull: true },
    { name: "created_at", type: "timestamptz" },
    { name: "source_lsn", type: "bigint", notNull: true },
    { name: "loaded_at", type: "timestamptz", notNull: true },
  ],
  primaryKey: ["tenant_id", "entity_id"],
  redshift: { distStyle: "all" },
  postgresIndexes: [{ name: "dim_entities_type", columns: ["tenant_id", "entity_type"] }],
};

/**
 * Per consumer group and source partition: how far the warehouse is loaded.
 * last_source_ts is the newest primary commit time loaded from that
 * partition; pending is the partition's backlog (messages behind the high
 * watermark) when it was last loaded. app/cdc/watermark.ts turns this into
 * the lag that analytics answers report. Written in the same transaction as
 * the rows it describes.
 */
const loaderWatermarks: Table = {
  name: "loader_watermarks",
  columns: [
    { name: "consumer_group", type: "varchar(128)", notNull: true },
    { name: "topic", type: "varchar(249)", notNull: true },
    { name: "kafka_partition", type: "int", notNull: true }, // "partition" is reserved in Redshift
    { name: "last_offset", type: "bigint", notNull: true },
    { name: "last_source_ts", type: "timestamptz" },
    { name: "last_lsn", type: "bigint" },
    { name: "pending", type: "bigint", notNull: true },
    { name: "last_loaded_at", type: "timestamptz", notNull: true },
  ],
  primaryKey: ["consumer_group", "topic", "kafka_partition"],
  // A handful of rows rewritten by every micro-batch: ALL would write each
  // change on every node; AUTO keeps it small and lets Redshift choose.
  redshift: { distStyle: "auto" },
};

export const migration0001: Migration = {
  version: "0001_warehouse.sql",
  steps: [factReadings, currentStateByName, dimTenants, dimAttributes, dimEntities, loaderWatermarks].map((table) => ({
    kind: "createTable" as const,
    table,
  })),
};
