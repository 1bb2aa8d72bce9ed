/**
 * 0002: current_state is derived from the facts (the primary no longer ships
 * whole latest documents: migration 000009 there), so it is keyed like them,
 * by attribute id, and holds the value typed as fact_readings does.
 * attribute_name and entity_type are NULL until their dimension rows arrive
 * (the loader fills them in then, as for facts). Landed as
 * 0002_current_state_by_attribute.sql; never edit it.
 */
import type { Migration, Table } from "../schema";

const currentState: Table = {
  name: "current_state",
  columns: [
    { name: "tenant_id", type: "varchar(36)", notNull: true },
    { name: "entity_id", type: "bigint", notNull: true },
    { name: "attribute_id", type: "int", notNull: true },
    { name: "attribute_name", type: "varchar(128)" },
    { name: "entity_type", type: "varchar(256)" },
    { name: "data_type", type: "varchar(16)", notNull: true },
    { name: "value_num", type: "double precision" },
    { name: "value_text", type: "varchar(65535)" },
    { name: "value_bool", type: "boolean" },
    { name: "value_ts", type: "timestamptz" },
    { name: "ts", type: "timestamptz", notNull: true }, // device time of the value
    { name: "source_lsn", type: "bigint", notNull: true },
    { name: "loaded_at", type: "timestamptz", notNull: true },
  ],
  primaryKey: ["tenant_id", "entity_id", "attribute_id"],
  // Colocated with fact_readings (both on entity_id): the loader derives this
  // table from the facts; read by entity within a tenant.
  redshift: { distStyle: "key", distKey: "entity_id", sortKey: { style: "compound", columns: ["tenant_id", "entity_id"] } },
};

const COLUMNS = `tenant_id, entity_id, attribute_id, attribute_name, entity_type, data_type,
  value_num, value_text, value_bool, value_ts, ts, source_lsn, loaded_at`;

export const migration0002: Migration = {
  version: "0002_current_state_by_attribute.sql",
  steps: [
    { kind: "renameTable", from: "current_state", to: "current_state_by_name" },
    { kind: "createTable", table: currentState },
    // The rows loaded so far, by the newest fact per attribute (what the
    // loader derives from now on). ROW_NUMBER rather than DISTINCT ON:
    // Redshift has no DISTINCT ON.
    {
      kind: "sql",
      sql: `INSERT INTO current_state (${COLUMNS})
SELECT ${COLUMNS}
FROM (
  SELECT f.*, ROW_NUMBER() OVER (PARTITION BY f.tenant_id, f.entity_id, f.attribute_id ORDER BY f.ts DESC) AS rn
  FROM fact_readings f
) newest
WHERE rn = 1`,
    },
    // Attributes with no fact left (deleted history) keep their old row where
    // the dimension tells their id and type.
    {
      kind: "sql",
      sql: `INSERT INTO current_state (${COLUMNS})
SELECT o.tenant_id, o.entity_id, a.attribute_id, o.attribute_name, o.entity_type, a.data_type,
  o.value_num,
  CASE WHEN a.data_type = 'timestamp' THEN NULL ELSE o.value_text END,
  o.value_bool,
  CASE WHEN a.data_type = 'timestamp' THEN CAST(o.value_text AS timestamptz) END,
  o.ts, o.source_lsn, o.loaded_at
FROM current_state_by_name o
JOIN dim_attributes a ON a.tenant_id = o.tenant_id AND a.name = o.attribute_name
WHERE NOT EXISTS (SELECT 1 FROM current_state c
                  WHERE c.tenant_id = o.tenant_id AND c.entity_id = o.entity_id AND c.attribute_id = a.attribute_id)`,
    },
    { kind: "dropTable", name: "current_state_by_name" },
  ],
};
