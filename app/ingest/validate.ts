/**
 * Validation of readings against the tenant's attribute registry. Pure: no
 * I/O, the caller passes the registry lookup and the clock.
 *
 * Decisions (documented in app/ingest/README.md):
 * - `entity_id`: a positive integer up to 2^63-1, as a JSON number (only when
 *   it is a safe integer, else digits would have been rounded by JSON.parse
 *   already) or a decimal digit string. Floats, zero, negatives: rejected.
 * - `entity_type`: optional, 1..64 characters without control characters.
 *   Devices rarely know their type on every reading: the first reading that
 *   names one sets it (until then the entity's type reads as null), and a
 *   different one later is refused (entity-types.ts, at accept). Never a
 *   silent default: that would pin a wrong type forever.
 * - `ts`: optional (defaults to the arrival time); ISO-8601 with a timezone
 *   (`Z` or `±hh:mm`) or epoch milliseconds. Millisecond precision is kept.
 *   More than the clock skew in the future: rejected. Older than the live
 *   window: accepted on the backfill lane. Older than retention: rejected.
 * - values by type: int = safe-integer JSON number or a decimal string within
 *   int64; decimal = finite JSON number; bool = true/false; string = up to
 *   8 KiB of UTF-8 without NUL (PostgreSQL text cannot hold it); timestamp =
 *   like `ts`. null is not a value (omit the attribute).
 * - auto-registration infers: number → decimal (an integer-looking first value
 *   must not make later fractional ones invalid), boolean → bool, string →
 *   string. Register int/timestamp attributes explicitly.
 */
import type { DataType, Lane, TypedValue, ValidReading } from "./types";

export interface AttributeDef {
  id: number;
  name: string;
  type: DataType;
  hot: boolean;
}

export interface ValidationContext {
  lookup(name: string): AttributeDef | undefined;
  maxAttributes: number;
  /** Arrival time of the request, epoch ms: default `ts` and the reference of the windows. */
  nowMs: number;
  /** Readings older than this take the backfill lane. */
  liveWindowMs: number;
  /** Readings further in the future than this are rejected. */
  maxSkewMs: number;
  /** Readings older than this are rejected (they would fall out of retention at once). */
  maxAgeMs: number;
}

export interface ReadingError {
  index: number;
  field: string;
  reason: string;
}

export type ReadingResult =
  | { ok: true; reading: ValidReading }
  | {
      ok: false;
      errors: ReadingError[];
      /** Unknown attribute names with the type inferred from their value (undefined: cannot infer). */
      unknown: Map<string, DataType | undefined>;
    };

export const ATTRIBUTE_NAME = /^[a-zA-Z_][a-zA-Z0-9_.-]{0,127}$/;
export const MAX_STRING_BYTES = 8 * 1024;
export const MAX_ENTITY_TYPE_LENGTH = 64;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
// Control characters (including NUL, which PostgreSQL text refuses).
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Parses an ISO-8601 timestamp with timezone, or epoch ms; returns epoch ms or an error reason. */
export function parseTimestamp(raw: unknown): number | string {
  if (typeof raw === "number") {
    if (!Number.isSafeInteger(raw) || raw < 0) return "epoch milliseconds must be a non-negative integer";
    if (raw > 253402300799999) return "epoch milliseconds beyond year 9999";
    return raw;
  }
  if (typeof raw !== "string") return "must be an ISO-8601 string with timezone or epoch milliseconds";
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/.exec(raw);
  if (!m) return "must be ISO-8601 with a timezone, e.g. 2026-11-24T10:00:00Z";
  const [, y, mo, d, h, mi, s, frac, z, sign, oh, om] = m;
  const year = +y, month = +mo, day = +d, hour = +h, minute = +mi, second = s ? +s : 0;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) {
    return "is not a valid date and time";
  }
  const ms = frac ? Math.floor(+frac.padEnd(3, "0").slice(0, 3)) : 0;
  let offsetMin = 0;
  if (!z) {
    if (+oh > 23 || +om > 59) return "has an invalid timezone offset";
    offsetMin = (sign === "-" ? -1 : 1) * (+oh * 60 + +om);
  }
  const t = Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMin * 60_000;
  if (t < 0) return "is before 1970-01-01";
  return t;
}

/** Parses an entity id into its canonical decimal string, or returns an error reason. */
export function parseEntityId(raw: unknown): { id: string } | { reason: string } {
  if (typeof raw === "number") {
    if (!Number.isInteger(raw)) return { reason: "must be a positive integer" };
    if (!Number.isSafeInteger(raw)) return { reason: "is beyond 2^53-1 as a JSON number; send large ids as a digit string" };
    if (raw <= 0) return { reason: "must be a positive integer" };
    return { id: String(raw) };
  }
  if (typeof raw === "string") {
    if (!/^[0-9]{1,19}$/.test(raw)) return { reason: "must be a positive integer (a number or a digit string)" };
    const n = BigInt(raw);
    if (n <= 0n) return { reason: "must be a positive integer" };
    if (n > INT64_MAX) return { reason: "must be at most 9223372036854775807" };
    return { id: n.toString() };
  }
  return { reason: raw === undefined ? "is required" : "must be a positive integer (a number or a digit string)" };
}

/** Checks and normalises one value for its attribute's type; returns the typed value or an error reason. */
export function typeValue(type: DataType, raw: unknown): { value: TypedValue } | { reason: string } {
  if (raw === null || raw === undefined) return { reason: "null is not a value; omit the attribute instead" };
  switch (type) {
    case "int": {
      if (typeof raw === "number") {
        if (!Number.isFinite(raw)) return { reason: "int attribute: value is not finite" };
        if (!Number.isInteger(raw)) return { reason: "int attribute: value is not an integer" };
        if (!Number.isSafeInteger(raw)) return { reason: "int attribute: beyond 2^53-1 as a JSON number; send it as a decimal string" };
        return { value: raw };
      }
      if (typeof raw === "string" && /^-?[0-9]{1,19}$/.test(raw)) {
        const n = BigInt(raw);
        if (n > INT64_MAX || n < INT64_MIN) return { reason: "int attribute: value outside the 64-bit range" };
        const asNumber = Number(n);
        return { value: Number.isSafeInteger(asNumber) ? asNumber : n.toString() };
      }
      return { reason: `int attribute: expected an integer, got ${describe(raw)}` };
    }
    case "decimal":
      if (typeof raw !== "number") return { reason: `decimal attribute: expected a number, got ${describe(raw)}` };
      if (!Number.isFinite(raw)) return { reason: "decimal attribute: value is not finite" };
      return { value: raw };
    case "bool":
      if (typeof raw !== "boolean") return { reason: `bool attribute: expected true or false, got ${describe(raw)}` };
      return { value: raw };
    case "string":
      if (typeof raw !== "string") return { reason: `string attribute: expected a string, got ${describe(raw)}` };
      if (raw.includes("\u0000")) return { reason: "string attribute: NUL characters are not allowed" };
      if (raw.length > MAX_STRING_BYTES / 4 && Buffer.byteLength(raw, "utf8") > MAX_STRING_BYTES) {
        return { reason: `string attribute: longer than ${MAX_STRING_BYTES} bytes` };
      }
      return { value: raw };
    case "timestamp": {
      const t = parseTimestamp(raw);
      if (typeof t === "string") return { reason: `timestamp attribute: ${t}` };
      return { value: new Date(t).toISOString() };
    }
  }
}

/** The type auto-registration gives an attribute, from its first value; undefined when none fits. */
export function inferType(raw: unknown): DataType | undefined {
  if (typeof raw === "number" && Number.isFinite(raw)) return "decimal";
  if (typeof raw === "boolean") return "bool";
  if (typeof raw === "string") return "string";
  return undefined;
}

function describe(raw: unknown): string {
  if (raw === null) return "null";
  if (Array.isArray(raw)) return "an array";
  return typeof raw === "object" ? "an object" : `a ${typeof raw}`;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

export function laneOf(tsMs: number, ctx: Pick<ValidationContext, "nowMs" | "liveWindowMs">): Lane {
  return ctx.nowMs - tsMs > ctx.liveWindowMs ? "backfill" : "live";
}

/** Validates one reading (`index` is its position in the request, for the error list). */
export function validateReading(raw: unknown, index: number, ctx: ValidationContext): ReadingResult {
  const errors: ReadingError[] = [];
  const unknown = new Map<string, DataType | undefined>();
  const fail = (field: string, reason: string) => errors.push({ index, field, reason });

  if (!isPlainObject(raw)) {
    fail("reading", `must be an object, got ${describe(raw)}`);
    return { ok: false, errors, unknown };
  }

  const id = parseEntityId(raw.entity_id);
  if ("reason" in id) fail("entity_id", id.reason);

  const type = raw.entity_type ?? null;
  if (type !== null && (typeof type !== "string" || type.length < 1 || type.length > MAX_ENTITY_TYPE_LENGTH)) {
    fail("entity_type", `must be a string of 1..${MAX_ENTITY_TYPE_LENGTH} characters (or left out)`);
  } else if (type !== null && CONTROL.test(type)) {
    fail("entity_type", "must not contain control characters");
  }

  let tsMs = ctx.nowMs;
  if (raw.ts !== undefined && raw.ts !== null) {
    const t = parseTimestamp(raw.ts);
    if (typeof t === "string") fail("ts", t);
    else if (t - ctx.nowMs > ctx.maxSkewMs) {
      fail("ts", `is ${Math.round((t - ctx.nowMs) / 1000)} s in the future; at most ${Math.round(ctx.maxSkewMs / 1000)} s of clock skew is accepted`);
    } else if (ctx.nowMs - t > ctx.maxAgeMs) {
      fail("ts", `is older than the retention period of ${Math.round(ctx.maxAgeMs / 86_400_000)} days`);
    } else tsMs = t;
  }

  const values: Array<[number, TypedValue]> = [];
  const rawValues = raw.values;
  if (!isPlainObject(rawValues)) {
    fail("values", rawValues === undefined ? "is required" : `must be an object of attribute: value, got ${describe(rawValues)}`);
  } else {
    const names = Object.keys(rawValues);
    if (names.length === 0) fail("values", "must hold at least one attribute");
    else if (names.length > ctx.maxAttributes) {
      fail("values", `holds ${names.length} attributes; at most ${ctx.maxAttributes} per reading`);
    } else {
      for (const name of names) {
        const field = `values.${name}`;
        if (!ATTRIBUTE_NAME.test(name)) {
          fail(field, "attribute names must match ^[a-zA-Z_][a-zA-Z0-9_.-]{0,127}$");
          continue;
        }
        const def = ctx.lookup(name);
        if (!def) {
          const inferred = inferType(rawValues[name]);
          unknown.set(name, inferred);
          fail(field, `unknown attribute '${name}'; register it with POST /v1/attributes`);
          continue;
        }
        const typed = typeValue(def.type, rawValues[name]);
        if ("reason" in typed) fail(field, typed.reason);
        else values.push([def.id, typed.value]);
      }
    }
  }

  if (errors.length > 0) return { ok: false, errors, unknown };
  return {
    ok: true,
    reading: {
      entityId: (id as { id: string }).id,
      entityType: type as string | null,
      tsMs,
      lane: laneOf(tsMs, ctx),
      values,
    },
  };
}

/**
 * True when a failed reading failed only for unknown attributes whose type
 * can be inferred: under the tenant setting `register` the caller registers
 * them and validates the reading again.
 */
export function onlyRegistrable(result: ReadingResult): boolean {
  if (result.ok || result.unknown.size === 0) return false;
  const unknownFields = new Set([...result.unknown.keys()].map((n) => `values.${n}`));
  return (
    result.errors.every((e) => unknownFields.has(e.field)) &&
    [...result.unknown.values()].every((t) => t !== undefined)
  );
}

/** Collects reading errors, keeping at most `cap` of them, and counts the readings that failed. */
export class ErrorCollector {
  readonly listed: ReadingError[] = [];
  badReadings = 0;
  omitted = 0;
  constructor(private readonly cap = 100) {}

  add(errors: ReadingError[]): void {
    this.badReadings++;
    for (const e of errors) {
      if (this.listed.length < this.cap) this.listed.push(e);
      else this.omitted++;
    }
  }

  get empty(): boolean {
    return this.badReadings === 0;
  }

  message(total: number): string {
    const more = this.omitted > 0 ? `; ${this.listed.length} errors listed, ${this.omitted} more not listed` : "";
    return `${this.badReadings} of ${total} readings are invalid; nothing was stored${more}`;
  }
}
