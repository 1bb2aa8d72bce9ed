/**
 * Applies one micro-batch plan to the warehouse inside the caller's
 * transaction: dimensions first (so facts of the same batch join them), then
 * facts, then current_state, then the watermarks of the Kafka partitions the
 * batch came from.
 *
 * Every merge is "replace by key unless the warehouse holds a newer change"
 * (source_lsn), written as DELETE … USING stage + INSERT … SELECT … WHERE NOT
 * EXISTS from a temp table: the classic Redshift merge, which PostgreSQL runs
 * as well (Redshift has no ON CONFLICT; its MERGE would do too). Replaying a
 * batch therefore changes nothing, which is what makes "commit offsets only
 * after the warehouse committed" safe.
 */
import type { PoolClient } from "../../shared/db";
import type { BatchPlan } from "./plan";
import { copyStdinLoader } from "./staging/copy-stdin";
import { batchIdentity, type BatchIdentity, type StageLoader } from "./staging/stage-loader";
import { refreshRollups } from "./rollups";

export interface StageSpec {
  name: string;
  /** column → SQL type */
  columns: [string, string][];
}

/** How stage tables are filled (COPY FROM STDIN, or COPY via S3: staging/), and the batch they belong to. */
export interface Staging {
  loader: StageLoader;
  batch: BatchIdentity;
}

export async function createStage(client: PoolClient, staging: Staging, spec: StageSpec, rows: unknown[][]): Promise<void> {
  await client.query(`CREATE TEMP TABLE ${spec.name} (${spec.columns.map(([c, t]) => `${c} ${t}`).join(", ")})`);
  await staging.loader.load(client, spec, rows, staging.batch);
  // Without statistics the planner guesses the temp table's size and may scan
  // the fact table instead of probing its primary key.
  await client.query(`ANALYZE ${spec.name}`);
}

export const dropStage = (client: PoolClient, name: string) => client.query(`DROP TABLE ${name}`);

/**
 * Generic dimension merge: delete the keys (deletes and upserts) where the
 * stored row is not newer, then insert the upserts whose key is now free.
 */
async function mergeDimension(
  client: PoolClient,
  staging: Staging,
  table: string,
  keys: string[],
  spec: StageSpec,
  rows: unknown[][],
): Promise<void> {
  if (rows.length === 0) return;
  await createStage(client, staging, spec, rows);
  const on = keys.map((k) => `d.${k} = s.${k}`).join(" AND ");
  const cols = spec.columns.map(([c]) => c).filter((c) => c !== "is_delete");
  await client.query(`DELETE FROM ${table} d USING ${spec.name} s WHERE ${on} AND d.source_lsn <= s.source_lsn`);
  await client.query(
    `INSERT INTO ${table} (${cols.join(", ")}, loaded_at)
     SELECT ${cols.map((c) => `s.${c}`).join(", ")}, $1::timestamptz FROM ${spec.name} s
     WHERE NOT s.is_delete AND NOT EXISTS (SELECT 1 FROM ${table} d WHERE ${on})`,
    [new Date()],
  );
}

/** Sets `column` from a dimension stage wherever fact_readings or current_state still lack it. */
/** Fills a denormalised dimension column its facts lacked ('' is an untyped entity: plan.ts UNTYPED_ENTITY, stays NULL). */
async function fillDimension(client: PoolClient, column: string, from: string, stage: string, key: string): Promise<void> {
  for (const table of ["fact_readings", "current_state"]) {
    await client.query(
      `UPDATE ${table} SET ${column} = NULLIF(s.${from}, '')
       FROM ${stage} s
       WHERE ${table}.tenant_id = s.tenant_id AND ${table}.${key} = s.${key}
         AND NOT s.is_delete AND ${table}.${column} IS NULL`,
    );
  }
}

export interface WatermarkUpdate {
  topic: string;
  partition: number;
  lastOffset: string;
  /** Newest source commit time in this batch for the partition, ms (null: none carried one). */
  lastSourceTsMs: number | null;
  lastLsn: number | null;
  pending: number;
}

export interface ApplyCounts {
  facts: number;
  factDeletes: number;
  states: number;
  dimensions: number;
}

export async function applyPlan(
  client: PoolClient,
  plan: BatchPlan,
  group: string,
  watermarks: WatermarkUpdate[],
  staging: Staging = { loader: copyStdinLoader, batch: batchIdentity(group, watermarks) },
): Promise<ApplyCounts> {
  // 1. Dimensions.
  const tenantRows = [
    ...plan.tenants.upserts.map((r) => [r.tenant_id, r.name, r.created_at, r.source_lsn, false]),
    ...plan.tenants.deletes.map((r) => [r.tenant_id, "", null, r.source_lsn, true]),
  ];
  await mergeDimension(client, staging, "dim_tenants", ["tenant_id"], {
    name: "cdc_stage_tenants",
    columns: [["tenant_id", "varchar(36)"], ["name", "varchar(200)"], ["created_at", "timestamptz"], ["source_lsn", "bigint"], ["is_delete", "boolean"]],
  }, tenantRows);

  const attributeRows = [
    ...plan.attributes.upserts.map((r) => [r.tenant_id, r.attribute_id, r.name, r.data_type, r.is_hot, r.created_at, r.source_lsn, false]),
    ...plan.attributes.deletes.map((r) => [r.tenant_id, r.attribute_id, "", "", false, null, r.source_lsn, true]),
  ];
  await mergeDimension(client, staging, "dim_attributes", ["tenant_id", "attribute_id"], {
    name: "cdc_stage_attributes",
    columns: [["tenant_id", "varchar(36)"], ["attribute_id", "int"], ["name", "varchar(128)"], ["data_type", "varchar(16)"],
      ["is_hot", "boolean"], ["created_at", "timestamptz"], ["source_lsn", "bigint"], ["is_delete", "boolean"]],
  }, attributeRows);

  const entityRows = [
    ...plan.entities.upserts.map((r) => [r.tenant_id, r.entity_id, r.entity_type, r.created_at, r.source_lsn, false]),
    ...plan.entities.deletes.map((r) => [r.tenant_id, r.entity_id, "", null, r.source_lsn, true]),
  ];
  await mergeDimension(client, staging, "dim_entities", ["tenant_id", "entity_id"], {
    name: "cdc_stage_entities",
    columns: [["tenant_id", "varchar(36)"], ["entity_id", "bigint"], ["entity_type", "varchar(256)"], ["created_at", "timestamptz"],
      ["source_lsn", "bigint"], ["is_delete", "boolean"]],
  }, entityRows);

  // Facts and states loaded by earlier batches before their dimension row
  // arrived (topics are consumed independently) get the names now.
  if (plan.attributes.upserts.length > 0) await fillDimension(client, "attribute_name", "name", "cdc_stage_attributes", "attribute_id");
  if (plan.entities.upserts.length > 0) await fillDimension(client, "entity_type", "entity_type", "cdc_stage_entities", "entity_id");

  // 2. Facts.
  const factRows = [
    ...plan.facts.upserts.map((r) => [r.tenant_id, r.entity_id, r.attribute_id, r.ts, r.day, r.data_type, r.value_num, r.value_text,
      r.value_bool, r.value_ts, r.received_at, r.source_ts, r.source_lsn, false]),
    ...plan.facts.deletes.map((r) => [r.tenant_id, r.entity_id, r.attribute_id, r.ts, "1970-01-01", "int", null, null, null, null, null,
      "1970-01-01T00:00:00Z", r.source_lsn, true]),
  ];
  if (factRows.length > 0) {
    await createStage(client, staging, {
      name: "cdc_stage_facts",
      columns: [["tenant_id", "varchar(36)"], ["entity_id", "bigint"], ["attribute_id", "int"], ["ts", "timestamptz"], ["day", "date"],
        ["data_type", "varchar(16)"], ["value_num", "double precision"], ["value_text", "varchar(65535)"], ["value_bool", "boolean"],
        ["value_ts", "timestamptz"], ["received_at", "timestamptz"], ["source_ts", "timestamptz"], ["source_lsn", "bigint"], ["is_delete", "boolean"]],
    }, factRows);
    const on = "f.tenant_id = s.tenant_id AND f.entity_id = s.entity_id AND f.attribute_id = s.attribute_id AND f.ts = s.ts";
    await client.query(`DELETE FROM fact_readings f USING cdc_stage_facts s WHERE ${on} AND f.source_lsn <= s.source_lsn`);
    // loaded_at: the moment of loading, which the commit follows within
    // milliseconds, taken by the loader: Redshift runs NOW() on the leader
    // node only (deprecated there) and has no clock_timestamp().
    await client.query(
      `INSERT INTO fact_readings (tenant_id, entity_id, attribute_id, ts, day, entity_type, attribute_name, data_type,
         value_num, value_text, value_bool, value_ts, received_at, source_ts, source_lsn, loaded_at)
       SELECT s.tenant_id, s.entity_id, s.attribute_id, s.ts, s.day, NULLIF(e.entity_type, ''), a.name, s.data_type,
         s.value_num, s.value_text, s.value_bool, s.value_ts, s.received_at, s.source_ts, s.source_lsn, $1::timestamptz
       FROM cdc_stage_facts s
       LEFT JOIN dim_entities e ON e.tenant_id = s.tenant_id AND e.entity_id = s.entity_id
       LEFT JOIN dim_attributes a ON a.tenant_id = s.tenant_id AND a.attribute_id = s.attribute_id
       WHERE NOT s.is_delete AND NOT EXISTS (SELECT 1 FROM fact_readings f WHERE ${on})`,
      [new Date()],
    );
    await dropStage(client, "cdc_stage_facts");
    // The hourly/daily rollups of the buckets these facts touch.
    await refreshRollups(client, plan, staging);
  }

  // 3. current_state: an entity deleted on the primary leaves it (rows loaded
  // before the delete); then each batch-newest fact replaces the stored row
  // of its attribute when its device ts is newer, so a replay or a late
  // reading changes nothing (the primary's entity_latest rule).
  if (plan.states.entityDeletes.length > 0) {
    await createStage(client, staging, {
      name: "cdc_stage_state_deletes",
      columns: [["tenant_id", "varchar(36)"], ["entity_id", "bigint"], ["source_lsn", "bigint"]],
    }, plan.states.entityDeletes.map((e) => [e.tenant_id, e.entity_id, e.source_lsn]));
    await client.query(
      `DELETE FROM current_state c USING cdc_stage_state_deletes s
       WHERE c.tenant_id = s.tenant_id AND c.entity_id = s.entity_id AND c.source_lsn <= s.source_lsn`,
    );
    await dropStage(client, "cdc_stage_state_deletes");
  }
  if (plan.states.rows.length > 0) {
    await createStage(client, staging, {
      name: "cdc_stage_state",
      columns: [["tenant_id", "varchar(36)"], ["entity_id", "bigint"], ["attribute_id", "int"], ["data_type", "varchar(16)"],
        ["value_num", "double precision"], ["value_text", "varchar(65535)"], ["value_bool", "boolean"], ["value_ts", "timestamptz"],
        ["ts", "timestamptz"], ["source_lsn", "bigint"]],
    }, plan.states.rows.map((r) => [r.tenant_id, r.entity_id, r.attribute_id, r.data_type, r.value_num, r.value_text, r.value_bool, r.value_ts, r.ts, r.source_lsn]));
    const on = "c.tenant_id = s.tenant_id AND c.entity_id = s.entity_id AND c.attribute_id = s.attribute_id";
    await client.query(`DELETE FROM current_state c USING cdc_stage_state s WHERE ${on} AND c.ts < s.ts`);
    await client.query(
      `INSERT INTO current_state (tenant_id, entity_id, attribute_id, attribute_name, entity_type, data_type,
         value_num, value_text, value_bool, value_ts, ts, source_lsn, loaded_at)
       SELECT s.tenant_id, s.entity_id, s.attribute_id, a.name, NULLIF(e.entity_type, ''), s.data_type,
         s.value_num, s.value_text, s.value_bool, s.value_ts, s.ts, s.source_lsn, $1::timestamptz
       FROM cdc_stage_state s
       LEFT JOIN dim_entities e ON e.tenant_id = s.tenant_id AND e.entity_id = s.entity_id
       LEFT JOIN dim_attributes a ON a.tenant_id = s.tenant_id AND a.attribute_id = s.attribute_id
       WHERE NOT EXISTS (SELECT 1 FROM current_state c WHERE ${on})`,
      [new Date()],
    );
    await dropStage(client, "cdc_stage_state");
  }

  for (const t of ["cdc_stage_tenants", "cdc_stage_attributes", "cdc_stage_entities"]) {
    const rows = t === "cdc_stage_tenants" ? tenantRows : t === "cdc_stage_attributes" ? attributeRows : entityRows;
    if (rows.length > 0) await dropStage(client, t);
  }

  // 4. Watermarks, in the same transaction as the rows they describe.
  for (const w of watermarks) {
    const ts = w.lastSourceTsMs === null ? null : new Date(w.lastSourceTsMs).toISOString();
    const params = [group, w.topic, w.partition, w.lastOffset, ts, w.lastLsn, w.pending, new Date()];
    const updated = await client.query(
      `UPDATE loader_watermarks SET last_offset = $4,
         last_source_ts = CASE WHEN last_source_ts IS NULL OR $5::timestamptz > last_source_ts THEN $5::timestamptz ELSE last_source_ts END,
         last_lsn = coalesce($6, last_lsn), pending = $7, last_loaded_at = $8::timestamptz
       WHERE consumer_group = $1 AND topic = $2 AND kafka_partition = $3`,
      params,
    );
    if (updated.rowCount === 0) {
      await client.query(
        `INSERT INTO loader_watermarks (consumer_group, topic, kafka_partition, last_offset, last_source_ts, last_lsn, pending, last_loaded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz)`,
        params,
      );
    }
  }

  return {
    facts: plan.facts.upserts.length,
    factDeletes: plan.facts.deletes.length,
    states: plan.states.rows.length,
    dimensions: tenantRows.length + attributeRows.length + entityRows.length,
  };
}
