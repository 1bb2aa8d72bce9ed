/**
 * What the body parsers of an import (ndjson.ts, csv.ts) hand to the import
 * (run-import.ts): one row at a time, each either a raw reading object for
 * the ingest validation or a row already known to be bad, with where it is
 * in the upload so the client can find it.
 */

/** Where a row is: its 1-based line in the upload; CSV rows also their data row number (header excluded). */
export interface RowLocation {
  line: number;
  row?: number;
}

export interface RowProblem {
  /** The field, as the client names it (NDJSON: `values.temperature`; CSV: the column). */
  field: string;
  reason: string;
}

export type ImportRow =
  | { at: RowLocation; reading: unknown }
  | { at: RowLocation; problems: RowProblem[] };

export interface RowSource {
  /**
   * The rows after any header, in upload order. Throws an AppError when the
   * body cannot be read on (a CSV syntax error, bad gzip, a client gone).
   */
  rows: AsyncIterable<ImportRow>;
  /** How a validation field of ../validate.ts is shown to the client for this format. */
  fieldName(field: string): string;
}

/** A row or line longer than this is a rejected row, not buffered further. */
export const MAX_ROW_BYTES = 1024 * 1024;
