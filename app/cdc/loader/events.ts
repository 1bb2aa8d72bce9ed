/**
 * Decodes Debezium change events (JSON converter, schemas disabled) into
 * typed changes. Pure: no I/O, so every shape is unit-tested.
 *
 * A value looks like {"before":…,"after":…,"source":{"ts_ms","lsn","table","snapshot",…},"op":"c|u|d|r",…}.
 * Column encodings (connector-config.ts): timestamptz → ISO string with
 * microseconds, bigint/int → number, double → number, jsonb → JSON text,
 * uuid → string. Deletes carry the primary key only in `before` (replica
 * identity DEFAULT).
 */

export type Op = "c" | "u" | "d" | "r";

export interface ChangeEvent {
  kind: "change";
  table: string;
  op: Op;
  /** The row after the change; for a delete, the key columns of the row before. */
  row: Record<string, unknown>;
  /** Commit time on the primary, ms (snapshot reads: the snapshot time). */
  sourceTsMs: number;
  lsn: number;
  snapshot: boolean;
}

export interface HeartbeatEvent {
  kind: "heartbeat";
  /** Connector wall-clock time of the Debezium heartbeat, ms. */
  tsMs: number;
}

export type DecodedEvent = ChangeEvent | HeartbeatEvent;

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}

const OPS = new Set(["c", "u", "d", "r"]);

/**
 * Decodes one Kafka message value. Returns null for tombstones (null value),
 * which carry nothing we load. Throws DecodeError for anything malformed.
 */
export function decodeEvent(value: Buffer | string | null): DecodedEvent | null {
  if (value === null || value.length === 0) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === "string" ? value : value.toString("utf8"));
  } catch {
    throw new DecodeError("message value is not JSON");
  }
  if (typeof parsed !== "object" || parsed === null) throw new DecodeError("message value is not an object");
  const v = parsed as Record<string, unknown>;
  if (v.op === undefined && typeof v.ts_ms === "number" && v.source === undefined) {
    return { kind: "heartbeat", tsMs: v.ts_ms };
  }
  if (typeof v.op !== "string" || !OPS.has(v.op)) throw new DecodeError(`unknown op ${JSON.stringify(v.op)}`);
  const source = v.source as Record<string, unknown> | undefined;
  if (!source || typeof source.table !== "string") throw new DecodeError("change event without source.table");
  const op = v.op as Op;
  const row = (op === "d" ? v.before : v.after) as Record<string, unknown> | null;
  if (!row || typeof row !== "object") throw new DecodeError(`op ${op} without ${op === "d" ? "before" : "after"}`);
  const tsMs = Number(source.ts_ms);
  if (!Number.isFinite(tsMs)) throw new DecodeError("change event without source.ts_ms");
  return {
    kind: "change",
    table: source.table,
    op,
    row,
    sourceTsMs: tsMs,
    lsn: Number(source.lsn ?? 0),
    snapshot: source.snapshot !== undefined && source.snapshot !== "false" && source.snapshot !== false,
  };
}

/** A UTC ISO timestamp string as Debezium writes timestamptz; the UTC day (YYYY-MM-DD) of it. */
export function utcDay(iso: string): string {
  if (/^\d{4}-\d{2}-\d{2}T.*Z$/.test(iso)) return iso.slice(0, 10);
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new DecodeError(`not a timestamp: ${iso}`);
  return d.toISOString().slice(0, 10);
}

/**
 * Microseconds since the epoch of such a string. Debezium trims trailing zero
 * digits of the fraction ("…:00Z", "…:00.5Z"), so these strings do not order
 * as text; Date alone would drop the microseconds.
 */
export function isoMicros(iso: string): number {
  const m = /^(.*?)(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$/.exec(iso);
  const ms = m ? Date.parse(m[1] + m[3]) : NaN;
  if (!m || Number.isNaN(ms)) throw new DecodeError(`not a timestamp: ${iso}`);
  return ms * 1000 + Number((m[2] ?? "").padEnd(6, "0").slice(0, 6));
}
