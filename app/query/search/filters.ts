/**
 * Search filters: validation against the tenant's dictionary, and their
 * translation into SQL over `entity_jsonb.hot`.
 *
 * Attribute names and values only ever travel as bind parameters:
 *  - equality (`eq`, `in`) on int/decimal/bool/string is JSONB containment,
 *    `hot @> $n::jsonb` (all `eq`s merged into one document) and
 *    `hot @> ANY($n::jsonb[])` for `in`, which the GIN (jsonb_path_ops)
 *    index answers;
 *  - ranges are typed comparisons, `(hot ->> $name)::numeric > $v` for
 *    numbers, `::timestamptz` for timestamps, byte order (COLLATE "C") for
 *    strings; timestamps compare typed for equality too, since the same
 *    instant has many spellings, and so do ints beyond ±(2^53-1), which
 *    the projection keeps as strings of digits.
 */
import { createHash } from "crypto";
import { badRequest } from "../../shared/http/errors";
import type { DataType, Dictionary, AttributeDef } from "../catalog";

export const FILTER_OPS = ["eq", "in", "gt", "gte", "lt", "lte"] as const;
export type FilterOp = (typeof FILTER_OPS)[number];

export const MAX_FILTERS = 20;
export const MAX_IN_VALUES = 100;
export const MAX_STRING_VALUE = 4096;

export type FilterValue = number | boolean | string;

export interface ParsedFilter {
  attribute: AttributeDef;
  op: FilterOp;
  /** One value for eq/gt/gte/lt/lte, the list for in (deduplicated, sorted). */
  values: FilterValue[];
}

const RANGE_SQL: Record<Exclude<FilterOp, "eq" | "in">, string> = { gt: ">", gte: ">=", lt: "<", lte: "<=" };

const ISO_TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Checks one value against the attribute's type; returns it normalised or null when it does not fit. */
function coerce(type: DataType, v: unknown): FilterValue | null {
  switch (type) {
    case "int":
      // Beyond ±(2^53-1) a JSON number loses digits: such values come (and are
      // stored in the projection, migration 000005) as strings of digits.
      if (typeof v === "number") return Number.isSafeInteger(v) ? v : null;
      if (typeof v === "string" && /^-?\d{1,19}$/.test(v)) {
        const big = BigInt(v);
        if (big > 9223372036854775807n || big < -9223372036854775808n) return null;
        // Small ints must be JSON numbers, like every other value of the type.
        return Number.isSafeInteger(Number(big)) ? null : big.toString();
      }
      return null;
    case "decimal":
      return typeof v === "number" && Number.isFinite(v) ? v : null;
    case "bool":
      return typeof v === "boolean" ? v : null;
    case "string":
      // No stored string holds NUL (ingest refuses it), and PostgreSQL text
      // and jsonb cannot carry it: a 400 here, not a failed query.
      return typeof v === "string" && v.length <= MAX_STRING_VALUE && !v.includes("\u0000") ? v : null;
    case "timestamp":
      if (typeof v !== "string" || !ISO_TS.test(v)) return null;
      return Number.isNaN(Date.parse(v)) ? null : new Date(v).toISOString();
  }
}

const typeWord: Record<DataType, string> = {
  int: "an integer (beyond ±2^53-1 as a string of digits)",
  decimal: "a number",
  bool: "true or false",
  string: `a string of at most ${MAX_STRING_VALUE} characters, without NUL`,
  timestamp: "an ISO 8601 timestamp with a zone (e.g. 2026-11-24T10:00:00Z)",
};

/** Validates `filters` of a search body against the dictionary; 400 naming `filters[i].<part>` otherwise. */
export function parseFilters(raw: unknown, dict: Dictionary): ParsedFilter[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw badRequest("invalid_filter", "filters must be an array", "filters");
  if (raw.length > MAX_FILTERS) throw badRequest("invalid_filter", `at most ${MAX_FILTERS} filters`, "filters");
  return raw.map((f: unknown, i) => {
    const at = `filters[${i}]`;
    if (typeof f !== "object" || f === null || Array.isArray(f)) {
      throw badRequest("invalid_filter", `${at} must be an object {attribute, op, value}`, at);
    }
    const { attribute, op, value } = f as Record<string, unknown>;
    if (typeof attribute !== "string" || attribute.length === 0) {
      throw badRequest("invalid_filter", `${at}.attribute must be a non-empty string`, `${at}.attribute`);
    }
    const def = dict.get(attribute);
    if (!def) throw badRequest("unknown_attribute", `${at}: unknown attribute '${attribute}'`, `${at}.attribute`);
    if (!def.isHot) {
      throw badRequest(
        "attribute_not_hot",
        `${at}: attribute '${attribute}' is not hot; search filters only hot attributes (read it with GET /v1/entities/{id} or the time series)`,
        `${at}.attribute`,
      );
    }
    if (typeof op !== "string" || !(FILTER_OPS as readonly string[]).includes(op)) {
      throw badRequest("invalid_filter", `${at}.op must be one of ${FILTER_OPS.join(", ")}`, `${at}.op`);
    }
    if (def.dataType === "bool" && op !== "eq" && op !== "in") {
      throw badRequest("invalid_filter", `${at}: op '${op}' does not apply to bool attribute '${attribute}'`, `${at}.op`);
    }
    if (op === "in") {
      if (!Array.isArray(value) || value.length === 0 || value.length > MAX_IN_VALUES) {
        throw badRequest("invalid_filter", `${at}.value must be an array of 1 to ${MAX_IN_VALUES} values for op 'in'`, `${at}.value`);
      }
      const values = value.map((v) => {
        const c = coerce(def.dataType, v);
        if (c === null) throw badRequest("invalid_filter", `${at}.value: every value must be ${typeWord[def.dataType]}`, `${at}.value`);
        return c;
      });
      const unique = [...new Map(values.map((v) => [JSON.stringify(v), v])).values()];
      unique.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0));
      return { attribute: def, op, values: unique };
    }
    const c = coerce(def.dataType, value);
    if (c === null) throw badRequest("invalid_filter", `${at}.value must be ${typeWord[def.dataType]}`, `${at}.value`);
    return { attribute: def, op: op as FilterOp, values: [c] };
  });
}

/** The filters in a canonical order, hashed: binds a cursor to the search it came from. */
export function filterHash(filters: readonly ParsedFilter[]): string {
  const canonical = filters
    .map((f) => [f.attribute.name, f.op, f.values] as const)
    .map((x) => JSON.stringify(x))
    .sort();
  return createHash("sha256").update(JSON.stringify(canonical)).digest("base64url").slice(0, 22);
}

export interface FilterSql {
  /** Conditions to AND into the WHERE clause. */
  clauses: string[];
  params: unknown[];
  /**
   * Documents of one containment condition the filters imply (a row matches
   * the filters only if its `hot` contains ANY of them): what the GIN index
   * can answer. Null when no filter is a containment (ranges, timestamps).
   */
  containsAny: string[] | null;
}

/**
 * The WHERE conditions of the filters, with parameters numbered from
 * `firstParam` ($firstParam, $firstParam+1, …). Pure: no names or values in the text.
 */
export function buildFilterSql(filters: readonly ParsedFilter[], firstParam: number): FilterSql {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const bind = (v: unknown) => {
    params.push(v);
    return `$${firstParam + params.length - 1}`;
  };
  // Equalities on non-timestamp types fold into containment documents; a
  // second eq on the same attribute needs a second document.
  const docs: Array<Record<string, FilterValue>> = [];
  let firstIn: string[] | null = null;
  for (const f of filters) {
    const name = f.attribute.name;
    // Big ints are JSON strings in the projection and numbers otherwise:
    // compare them as numerics, not by containment.
    const bigInt = f.attribute.dataType === "int" && f.values.some((v) => typeof v === "string");
    if (bigInt && (f.op === "eq" || f.op === "in")) {
      clauses.push(`(hot ->> ${bind(name)}::text)::numeric = ANY(${bind(f.values.map(String))}::numeric[])`);
      continue;
    }
    const typed = f.attribute.dataType === "timestamp";
    if (f.op === "eq" && !typed) {
      const doc = docs.find((d) => !(name in d));
      if (doc) doc[name] = f.values[0];
      else docs.push({ [name]: f.values[0] });
    } else if (f.op === "in" && !typed) {
      const alternatives = f.values.map((v) => JSON.stringify({ [name]: v }));
      firstIn ??= alternatives;
      clauses.push(`hot @> ANY(${bind(alternatives)}::jsonb[])`);
    } else if (typed) {
      const col = `(hot ->> ${bind(name)}::text)::timestamptz`;
      if (f.op === "eq") clauses.push(`${col} = ${bind(f.values[0])}::timestamptz`);
      else if (f.op === "in") clauses.push(`${col} = ANY(${bind(f.values)}::timestamptz[])`);
      else clauses.push(`${col} ${RANGE_SQL[f.op]} ${bind(f.values[0])}::timestamptz`);
    } else if (f.attribute.dataType === "string") {
      clauses.push(`(hot ->> ${bind(name)}::text) COLLATE "C" ${RANGE_SQL[f.op as keyof typeof RANGE_SQL]} ${bind(f.values[0])}::text`);
    } else {
      // int, decimal
      clauses.push(`(hot ->> ${bind(name)}::text)::numeric ${RANGE_SQL[f.op as keyof typeof RANGE_SQL]} ${bind(String(f.values[0]))}::numeric`);
    }
  }
  for (const doc of docs) clauses.unshift(`hot @> ${bind(JSON.stringify(doc))}::jsonb`);
  // All equalities in one document narrow the most; else the first `in`.
  const containsAny = docs.length > 0 ? [JSON.stringify(docs[0])] : firstIn;
  return { clauses, params, containsAny };
}
