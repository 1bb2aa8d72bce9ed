/**
 * Turns the change events of one micro-batch into what the warehouse must do:
 * per table, the rows to upsert and the keys to delete, deduplicated so that
 * the LAST change of a key in the batch wins (Debezium keys messages by the
 * row's primary key, so all changes of a row sit in one Kafka partition, in
 * commit order). Pure; apply.ts runs the plan in one transaction.
 */
import { ChangeEvent, DecodeError, UNAVAILABLE_VALUE, utcDay } from "./events";

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

export interface StateRow {
  tenant_id: string;
  entity_id: number;
  attribute_name: string;
  entity_type: string;
  value_num: number | null;
  value_text: string | null;
  value_bool: boolean | null;
  ts: string;
  source_lsn: number;
}

export interface TenantRow { tenant_id: string; name: string; created_at: string | null; source_lsn: number }
export interface AttributeRow {
  tenant_id: string; attribute_id: number; name: string; data_type: string; is_hot: boolean;
  created_at: string | null; source_lsn: number;
}
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
   * current_state: each entity here has its rows replaced by `rows` (the
   * attributes of its latest document), or removed when `deleted`.
   */
  states: { entities: { tenant_id: string; entity_id: number; source_lsn: number; deleted: boolean }[]; rows: StateRow[] };
  /** Events that changed nothing loadable (heartbeat rows, projection updates without `latest`). */
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

/** Rows of current_state from a projection document {name: {"v": value, "ts": iso}}. */
export function stateRows(row: Record<string, unknown>, lsn: number): StateRow[] | null {
  const raw = row.latest;
  if (raw === UNAVAILABLE_VALUE || raw === undefined) return null; // unchanged TOASTed value: nothing new
  const latest = (typeof raw === "string" ? JSON.parse(raw) : raw) as Record<string, { v?: unknown; ts?: unknown }>;
  const tenant_id = str(row, "tenant_id");
  const entity_id = num(row, "entity_id");
  const entity_type = str(row, "entity_type");
  const rows: StateRow[] = [];
  for (const [attribute_name, entry] of Object.entries(latest ?? {})) {
    if (!entry || typeof entry.ts !== "string") continue;
    const v = entry.v;
    rows.push({
      tenant_id, entity_id, attribute_name, entity_type,
      value_num: typeof v === "number" ? v : null,
      value_text: typeof v === "string" ? v : null,
      value_bool: typeof v === "boolean" ? v : null,
      ts: entry.ts,
      source_lsn: lsn,
    });
  }
  return rows;
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
      tenant_id: str(e.row, "tenant_id"), entity_id: num(e.row, "entity_id"), entity_type: str(e.row, "entity_type"),
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

  const states: BatchPlan["states"] = { entities: [], rows: [] };
  for (const e of lastPerKey(of("entity_jsonb"), (r) => `${str(r, "tenant_id")}|${num(r, "entity_id")}`)) {
    const key = { tenant_id: str(e.row, "tenant_id"), entity_id: num(e.row, "entity_id"), source_lsn: e.lsn };
    if (e.op === "d") {
      states.entities.push({ ...key, deleted: true });
      continue;
    }
    const rows = stateRows(e.row, e.lsn);
    if (rows === null) {
      ignored++;
      continue;
    }
    states.entities.push({ ...key, deleted: false });
    states.rows.push(...rows);
  }
  // An entity deleted on the primary leaves current_state too; per entity the
  // newest change (by LSN) of either kind decides.
  for (const d of entities.deletes) states.entities.push({ ...d, deleted: true });
  const winner = new Map<string, BatchPlan["states"]["entities"][number]>();
  for (const s of states.entities) {
    const k = `${s.tenant_id}|${s.entity_id}`;
    const w = winner.get(k);
    if (!w || s.source_lsn >= w.source_lsn) winner.set(k, s);
  }
  states.entities = [...winner.values()];
  states.rows = states.rows.filter((r) => {
    const w = winner.get(`${r.tenant_id}|${r.entity_id}`);
    return w !== undefined && !w.deleted && w.source_lsn === r.source_lsn;
  });

  return { tenants, attributes, entities, facts, states, ignored };
}
