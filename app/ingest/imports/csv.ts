/**
 * The rows of a CSV import, parsed by csv-parse (RFC 4180: quotes, quoted
 * newlines, CRLF, a BOM) as a stream.
 *
 * The header names the columns: `entity_id` and `ts` (required),
 * `entity_type` (optional, as in POST /v1/telemetry; `?entity_type=` gives
 * the type of rows without one), and attributes, every other column. A cell is typed by its
 * attribute's registered type: CSV carries no types, so every attribute
 * column must be registered before the upload (POST /v1/attributes), whatever
 * the tenant's unknown-attribute policy; a header that is unusable is a 400
 * before anything is stored. An empty cell is no value.
 *
 * Cells become a reading object like POST /v1/telemetry's, so the one
 * ingest validation (../validate.ts) decides; only what JSON would have said
 * (is this text a number, a boolean) is decided here.
 *
 * Bad rows (wrong cell count, a cell that is not of its type, a reading the
 * validation refuses) are rejected rows and the upload reads on. A syntax
 * error (a stray quote, a record over the row limit: an unclosed quote looks
 * exactly like that) ends the import at that line: after a broken quote
 * where the next record starts is a guess, and csv-parse's own
 * skip-and-resume loses the rest of the chunk it was in. Rows before the
 * error are stored.
 */
import { Parser, type CsvError } from "csv-parse";
import { AppError, badRequest } from "../../shared/http/errors";
import type { DataType } from "../types";
import { ATTRIBUTE_NAME, MAX_ENTITY_TYPE_LENGTH, type AttributeDef } from "../validate";
import { MAX_ROW_BYTES, type ImportRow, type RowProblem, type RowSource } from "./rows";

type Column =
  | { kind: "entity_id" | "entity_type" | "ts"; name: string }
  | { kind: "value"; name: string; type: DataType };

export interface CsvOptions {
  /** The tenant's attributes by name (the caller refreshes the registry on a miss). */
  lookup(names: string[]): Promise<Array<AttributeDef | undefined>>;
  /** The entity type of rows without an entity_type cell (`?entity_type=`). */
  entityType?: string;
  maxRowBytes?: number;
}

interface CsvRecord {
  cells: string[];
  line: number;
}

/** A row as POST /v1/telemetry's reading object; an absent cell is undefined, as if the key were missing. */
interface CsvReading {
  entity_id: string | undefined;
  entity_type: string | undefined;
  ts: string | number | undefined;
  values: Record<string, unknown>;
}

const header = (message: string, field = "header", details?: unknown) => badRequest("invalid_csv_header", message, field, details);

/** Reads and checks the header; the returned source yields the data rows. Throws 400 for an unusable header. */
export async function csvSource(chunks: AsyncIterable<Buffer>, opts: CsvOptions): Promise<RowSource> {
  if (opts.entityType !== undefined) checkEntityType(opts.entityType);
  const records = csvRecords(chunks, opts.maxRowBytes ?? MAX_ROW_BYTES);
  let first: CsvRecord[] = [];
  while (first.length === 0) {
    const next = await records.next();
    if (next.done) throw header("the CSV body is empty; its first line must be the header");
    first = next.value;
  }
  const columns = await resolveColumns(first[0].cells, opts);

  let row = 0;
  const toRows = (batch: readonly CsvRecord[], from = 0): ImportRow[] => {
    const out: ImportRow[] = new Array(batch.length - from);
    for (let i = from; i < batch.length; i++) {
      const record = batch[i];
      const at = { line: record.line, row: ++row };
      const built = toReading(record.cells, columns, opts.entityType);
      out[i - from] = Array.isArray(built) ? { at, problems: built } : { at, reading: built };
    }
    return out;
  };
  async function* batches(): AsyncGenerator<ImportRow[]> {
    yield toRows(first, 1);
    for await (const batch of records) yield toRows(batch);
  }
  return { batches: batches(), fieldName: (field) => field.replace(/^values\./, "") };
}

/**
 * csv-parse's parser with its records taken as it makes them, synchronously
 * in the write that parsed them, never through its stream side: a stream
 * destroyed by an error drops what it had buffered, and with it the valid
 * rows just before a syntax error. Not through on_record either: for every
 * record it hands there, csv-parse builds a context object of two object
 * spreads (measured on 300k rows: 3.7 µs a row against 1.6 µs, and ~750 B of
 * garbage a row); `info.lines` is the same count.
 */
class RecordTaker extends Parser {
  records: CsvRecord[] = [];

  override push(record: unknown): boolean {
    // null is the end of the readable side, which nobody reads.
    if (record !== null) {
      const cells = record as string[];
      // info.lines counts up to the record's end; the client wants the line it starts on.
      this.records.push({ cells, line: this.info.lines - newlinesIn(cells) });
    }
    return true;
  }

  takeRecords(): CsvRecord[] {
    const out = this.records;
    this.records = [];
    return out;
  }
}

/**
 * The body's records in order, a chunk's worth at a time, then the parser's
 * error if it failed. One input chunk is parsed at a time (the next is read
 * once its records are consumed), so at most one chunk's records wait here.
 */
async function* csvRecords(chunks: AsyncIterable<Buffer>, maxRowBytes: number): AsyncGenerator<CsvRecord[]> {
  const parser = new RecordTaker({
    bom: true,
    relax_column_count: true, // a short or long row is a rejected row (toReading), not a syntax error
    skip_empty_lines: true,
    record_delimiter: ["\r\n", "\n"], // not guessed from the first line: files that mix both are common
    max_record_size: maxRowBytes,
  });
  parser.on("error", () => undefined); // reported by the write or end callback below
  const fed = (feed: (done: (err?: Error | null) => void) => void) =>
    new Promise<Error | undefined>((resolve) => feed((err) => resolve(err ?? undefined)));
  for await (const chunk of chunks) {
    const err = await fed((done) => parser.write(chunk, done));
    yield parser.takeRecords();
    if (err) throw malformed(err);
  }
  const err = await fed((done) => parser.end(done));
  yield parser.takeRecords();
  if (err) throw malformed(err);
}

function malformed(err: Error): Error {
  const code = (err as CsvError).code;
  if (typeof code !== "string" || !code.startsWith("CSV_")) return err;
  const line = (err as CsvError & { lines?: number }).lines;
  return new AppError(400, "malformed_csv", `${err.message}; the import stopped there`, "body", { line });
}

function newlinesIn(cells: string[]): number {
  let n = 0;
  for (const c of cells) for (let i = c.indexOf("\n"); i !== -1; i = c.indexOf("\n", i + 1)) n++;
  return n;
}

function checkEntityType(t: string): void {
  if (t.length < 1 || t.length > MAX_ENTITY_TYPE_LENGTH || /[\u0000-\u001f\u007f]/.test(t)) {
    throw badRequest("invalid_parameter", `entity_type must be 1..${MAX_ENTITY_TYPE_LENGTH} characters without control characters`, "entity_type");
  }
}

async function resolveColumns(names: string[], opts: CsvOptions): Promise<Column[]> {
  const trimmed = names.map((n) => n.trim());
  const seen = new Set<string>();
  for (const [i, name] of trimmed.entries()) {
    if (name === "") throw header(`column ${i + 1} of the header has no name`);
    if (seen.has(name)) throw header(`column '${name}' appears twice in the header`, name);
    seen.add(name);
  }
  for (const required of ["entity_id", "ts"]) {
    if (!seen.has(required)) throw header(`the header has no '${required}' column`, required);
  }
  const attributeNames = trimmed.filter((n) => n !== "entity_id" && n !== "entity_type" && n !== "ts");
  if (attributeNames.length === 0) throw header("the header names no attribute column");
  const badName = attributeNames.find((n) => !ATTRIBUTE_NAME.test(n));
  if (badName !== undefined) throw header(`column '${badName}': attribute names must match ^[a-zA-Z_][a-zA-Z0-9_.-]{0,127}$`, badName);
  const attributeIndex = new Map(attributeNames.map((n, i) => [n, i]));
  const found = await opts.lookup(attributeNames);
  const unknown = attributeNames.filter((_, i) => !found[i]);
  if (unknown.length > 0) {
    throw badRequest(
      "unknown_attributes",
      `unknown attribute column(s) ${unknown.map((n) => `'${n}'`).join(", ")}: CSV cells carry no type, so register them first with POST /v1/attributes`,
      unknown[0],
      { unknown },
    );
  }
  return trimmed.map((name): Column => {
    if (name === "entity_id" || name === "entity_type" || name === "ts") return { kind: name, name };
    return { kind: "value", name, type: found[attributeIndex.get(name)!]!.type };
  });
}

/**
 * One data row as a reading object (empty cells omitted), or what keeps it
 * from being one. Per-row garbage is kept small (a million rows pass here):
 * the reading is made with all its properties at once and the list of
 * problems only when there is one.
 */
function toReading(cells: string[], columns: Column[], entityType: string | undefined): CsvReading | RowProblem[] {
  if (cells.length !== columns.length) {
    return [{ field: "row", reason: `has ${cells.length} cells; the header has ${columns.length} columns` }];
  }
  const reading: CsvReading = { entity_id: undefined, entity_type: entityType, ts: undefined, values: {} };
  let problems: RowProblem[] | undefined;
  for (let i = 0; i < columns.length; i++) {
    const col = columns[i];
    const cell = cells[i];
    if (cell === "") continue;
    if (col.kind === "value") {
      const v = cellValue(col.type, cell);
      if (typeof v === "object") (problems ??= []).push({ field: col.name, reason: v.reason });
      else reading.values[col.name] = v;
    } else if (col.kind === "entity_id") reading.entity_id = cell.trim();
    else if (col.kind === "entity_type") reading.entity_type = cell;
    else reading.ts = timestampCell(cell);
  }
  return problems ?? reading;
}

const DIGITS = /^[0-9]+$/;
const INTEGER = /^-?[0-9]+$/;
const NUMBER = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const BOOLEANS = new Map([["true", true], ["t", true], ["1", true], ["false", false], ["f", false], ["0", false]]);

/** ISO-8601 text as is; digits are epoch milliseconds (as a JSON number would be). */
function timestampCell(cell: string): string | number {
  const t = cell.trim();
  return DIGITS.test(t) ? Number(t) : t;
}

/**
 * What JSON would have carried for this cell: the number, the boolean, the
 * text. Ranges, lengths and formats stay with typeValue (../validate.ts); an
 * int stays text so that int64 values beyond 2^53 keep their digits.
 */
function cellValue(type: DataType, cell: string): string | number | boolean | { reason: string } {
  const t = cell.trim();
  const quoted = () => JSON.stringify(cell.length > 40 ? `${cell.slice(0, 40)}…` : cell);
  switch (type) {
    case "int":
      return INTEGER.test(t) ? t : { reason: `int attribute: ${quoted()} is not an integer` };
    case "decimal":
      return NUMBER.test(t) ? Number(t) : { reason: `decimal attribute: ${quoted()} is not a number` };
    case "bool": {
      const b = BOOLEANS.get(t.toLowerCase());
      return b ?? { reason: `bool attribute: ${quoted()} is not one of true, false, t, f, 1, 0` };
    }
    case "string":
      return cell;
    case "timestamp":
      return timestampCell(cell);
  }
}
