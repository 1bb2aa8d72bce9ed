/**
 * Turns the change events of one micro-batch into what the warehouse must do:
 * per table, the rows to upsert and the keys to delete, deduplicated so that
 * the LAST change of a key in the batch wins (Debezium keys messages by the
 * row's primary key, so all changes of a row sit in one Kafka partition, in
 * commit order). Pure; apply.ts runs the plan in one transaction.
 */
import { ChangeEvent, DecodeError, isoMicros, utcDay } from "./events";

export type DataType = "int" | "decimal" | "bool" | "string" | "timestamp";

export interface FactRow {
  tenant_id: string;
  entity_id: number;
  attribute_id: number;
  ts: string;
  day: string;
  data_type: DataType;
  value_num: number | null;
  value_text: string | null;
  value_bool: boolean | null;
  value_ts: string | null;
  received_at: string | null;
  source_ts: string;
  source_lsn: number;
}

/**
 * A current_state row: the newest value of one attribute of one entity, by
 * device time, derived from the facts of a batch (the primary's entity_latest
 * rule, applied again: db/README.md "Change stream").
 */
export type StateRow = Pick<FactRow, "tenant_id" | "entity_id" | "attribute_id" | "ts" | "data_type" | "value_num" | "value_text" | "value_bool" | "value_ts" | "source_lsn">;

export interface TenantRow { tenant_id: string; name: string; created_at: string | null; source_lsn: number }
export interface AttributeRow {
  tenant_id: string; attribute_id: number; name: string; data_type: string; is_hot: boolean;
  created_at: string | null; source_lsn: number;
}
/**
 * dim_entities.entity_type of an entity no reading has named a type for yet
 * (NULL on the primary). The column is NOT NULL (its sort key), and Redshift
 * cannot relax a column in place: the empty string stands in, and the facts,
 * current_state and analytics read it back as NULL (NULLIF in apply.ts and
 * analytics/sql.ts). The entity's update event replaces it once typed.
 */
export const UNTYPED_ENTITY = "";

export interface EntityRow { tenant_id: string; entity_id: number; entity_type: string; created_at: string | null; source_lsn: number }

/** A key to delete, with the LSN of the delete (rows loaded from a newer change stay). */
export type Deleted<K> = K & { source_lsn: number };

export interface Changes<Row, Key> {
  upserts: Row[];
  deletes: Deleted<Key>[];
}

export interface BatchPlan {
  tenants: Changes<TenantRow, { tenant_id: string }>;
  attributes: Changes<AttributeRow, { tenant_id: string; attribute_id: number }>;
  entities: Changes<EntityRow, { tenant_id: string; entity_id: number }>;
  facts: Changes<FactRow, { tenant_id: string; entity_id: number; attribute_id: number; ts: string }>;
  /**
   * current_state: per (tenant, entity, attribute) the batch's newest fact,
   * which replaces the stored row when its ts is newer; `entityDeletes`
   * remove every row of an entity loaded before the delete (by LSN).
   */
  states: { rows: StateRow[]; entityDeletes: Deleted<{ tenant_id: string; entity_id: number }>[] };
  /** Events that changed nothing loadable (heartbeat rows). */
  ignored: number;
}

const str = (row: Record<string, unknown>, col: string): string => {
  const v = row[col];
  if (typeof v !== "string") throw new DecodeError(`column ${col}: expected a string, got ${JSON.stringify(v)}`);
  return v;
};
const num = (row: Record<string, unknown>, col: string): number => {
  const v = row[col];
  if (typeof v !== "number" || !Number.isFinite(v)) throw new DecodeError(`column ${col}: expected a number, got ${JSON.stringify(v)}`);
  return v;
};
const optStr = (row: Record<string, unknown>, col: string): string | null =>
  row[col] === null || row[col] === undefined ? null : str(row, col);

/** The typed value of a history row: exactly one value_* column is set (CHECK on the primary). */
export function factValue(row: Record<string, unknown>): Pick<FactRow, "data_type" | "value_num" | "value_text" | "value_bool" | "value_ts"> {
  const none = { value_num: null, value_text: null, value_bool: null, value_ts: null };
  if (row.value_int !== null && row.value_int !== undefined) return { ...none, data_type: "int", value_num: num(row, "value_int") };
  if (row.value_decimal !== null && row.value_decimal !== undefined) {
    // Debezium writes NaN/Infinity of a double column as strings; they are not numbers a warehouse can aggregate.
    return { ...none, data_type: "decimal", value_num: typeof row.value_decimal === "number" ? row.value_decimal : null };
  }
  if (row.value_bool !== null && row.value_bool !== undefined) return { ...none, data_type: "bool", value_bool: Boolean(row.value_bool) };
  if (row.value_string !== null && row.value_string !== undefined) return { ...none, data_type: "string", value_text: str(row, "value_string") };
  if (row.value_ts !== null && row.value_ts !== undefined) return { ...none, data_type: "timestamp", value_ts: str(row, "value_ts") };
  throw new DecodeError("history row without a value");
}

/** Last change per key wins; returns the survivors in first-seen key order. */
function lastPerKey(events: ChangeEvent[], key: (row: Record<string, unknown>) => string): ChangeEvent[] {
  const byKey = new Map<string, ChangeEvent>();
  for (const e of events) {
    const k = key(e.row);
    byKey.delete(k); // re-insert: Map keeps insertion order, the survivor moves to its last position
    byKey.set(k, e);
  }
  return [...byKey.values()];
}

function split<Row, Key>(
  events: ChangeEvent[],
  key: (row: Record<string, unknown>) => string,
  toRow: (e: ChangeEvent) => Row,
  toKey: (e: ChangeEvent) => Key,
): Changes<Row, Key> {
  const out: Changes<Row, Key> = { upserts: [], deletes: [] };
  for (const e of lastPerKey(events, key)) {
    if (e.op === "d") out.deletes.push({ ...toKey(e), source_lsn: e.lsn });
    else out.upserts.push(toRow(e));
  }
  return out;
}

const sourceIso = (e: ChangeEvent) => new Date(e.sourceTsMs).toISOString();

/** Plans one micro-batch. `events` must be in partition order (per partition, as consumed). */
export function planBatch(events: ChangeEvent[]): BatchPlan {
  const byTable = new Map<string, ChangeEvent[]>();
  for (const e of events) {
    const list = byTable.get(e.table) ?? [];
    list.push(e);
    byTable.set(e.table, list);
  }
  const of = (t: string) => byTable.get(t) ?? [];
  let ignored = of("replication_heartbeat").length;

  const tenants = split(
    of("tenants"),
    (r) => str(r, "tenant_id"),
    (e) => ({ tenant_id: str(e.row, "tenant_id"), name: str(e.row, "name"), created_at: optStr(e.row, "created_at"), source_lsn: e.lsn }),
    (e) => ({ tenant_id: str(e.row, "tenant_id") }),
  );
  const attributes = split(
    of("attributes"),
    (r) => `${str(r, "tenant_id")}|${num(r, "attribute_id")}`,
    (e) => ({
      tenant_id: str(e.row, "tenant_id"), attribute_id: num(e.row, "attribute_id"), name: str(e.row, "name"),
      data_type: str(e.row, "data_type"), is_hot: Boolean(e.row.is_hot), created_at: optStr(e.row, "created_at"), source_lsn: e.lsn,
    }),
    (e) => ({ tenant_id: str(e.row, "tenant_id"), attribute_id: num(e.row, "attribute_id") }),
  );
  const entities = split(
    of("entities"),
    (r) => `${str(r, "tenant_id")}|${num(r, "entity_id")}`,
    (e) => ({
      tenant_id: str(e.row, "tenant_id"), entity_id: num(e.row, "entity_id"), entity_type: optStr(e.row, "entity_type") ?? UNTYPED_ENTITY,
      created_at: optStr(e.row, "created_at"), source_lsn: e.lsn,
    }),
    (e) => ({ tenant_id: str(e.row, "tenant_id"), entity_id: num(e.row, "entity_id") }),
  );
  const facts = split(
    of("entity_values_ts"),
    (r) => `${str(r, "tenant_id")}|${num(r, "entity_id")}|${num(r, "attribute_id")}|${str(r, "ts")}`,
    (e) => {
      const ts = str(e.row, "ts");
      return {
        tenant_id: str(e.row, "tenant_id"), entity_id: num(e.row, "entity_id"), attribute_id: num(e.row, "attribute_id"),
        ts, day: utcDay(ts), ...factValue(e.row), received_at: optStr(e.row, "received_at"),
        source_ts: sourceIso(e), source_lsn: e.lsn,
      };
    },
    (e) => ({ tenant_id: str(e.row, "tenant_id"), entity_id: num(e.row, "entity_id"), attribute_id: num(e.row, "attribute_id"), ts: str(e.row, "ts") }),
  );

  // current_state: the newest fact per attribute of an entity, unless the
  // entity was deleted after it (a delete and a re-creation may share a batch).
  const newest = new Map<string, { row: StateRow; micros: number }>();
  const deletedAt = new Map<string, number>();
  for (const d of entities.deletes) deletedAt.set(`${d.tenant_id}|${d.entity_id}`, d.source_lsn);
  for (const f of facts.upserts) {
    if (f.source_lsn <= (deletedAt.get(`${f.tenant_id}|${f.entity_id}`) ?? -1)) continue;
    const k = `${f.tenant_id}|${f.entity_id}|${f.attribute_id}`;
    const micros = isoMicros(f.ts);
    const held = newest.get(k);
    if (held && held.micros >= micros) continue;
    const { tenant_id, entity_id, attribute_id, ts, data_type, value_num, value_text, value_bool, value_ts, source_lsn } = f;
    newest.set(k, { row: { tenant_id, entity_id, attribute_id, ts, data_type, value_num, value_text, value_bool, value_ts, source_lsn }, micros });
  }
  const states: BatchPlan["states"] = { rows: [...newest.values()].map((n) => n.row), entityDeletes: entities.deletes };

  return { tenants, attributes, entities, facts, states, ignored };
}
