/**
 * The staged object's format: CSV that PostgreSQL's `COPY … (FORMAT csv,
 * NULL '\N')` and Redshift's `COPY … FORMAT AS CSV` read the same way.
 *
 * Every value is quoted (quotes doubled) and NULL is an unquoted \N: the
 * quoting keeps commas, quotes and newlines inside a field, and it keeps an
 * empty string apart from NULL, which the unquoted-empty convention cannot do
 * on Redshift (it loads an empty VARCHAR field as '' unless EMPTYASNULL).
 * \N is Redshift's default NULL AS string; PostgreSQL never matches a quoted
 * value against NULL, so the text "\N" survives there.
 */
import { gzip } from "zlib";
import { promisify } from "util";
import { fieldText } from "./field-text";

const gzipAsync = promisify(gzip);

export const CSV_NULL = "\\N";

export function csvField(value: unknown): string {
  const text = fieldText(value);
  return text === null ? CSV_NULL : `"${text.replace(/"/g, '""')}"`;
}

export function csvRows(rows: unknown[][], width: number): string {
  let out = "";
  for (const row of rows) {
    if (row.length !== width) throw new Error(`staging: a row has ${row.length} values for ${width} columns`);
    out += row.map(csvField).join(",") + "\n";
  }
  return out;
}

/** The gzipped CSV of `rows` (zlib's thread pool: a large batch does not block the event loop). */
export function gzippedCsv(rows: unknown[][], width: number): Promise<Buffer> {
  return gzipAsync(Buffer.from(csvRows(rows, width), "utf8"));
}
