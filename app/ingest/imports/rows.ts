/**
 * What the body parsers of an import (ndjson.ts, csv.ts) hand to the import
 * (run-import.ts): rows in batches (those of one piece of the body), each
 * either a raw reading object for the ingest validation or a row already
 * known to be bad, with where it is in the upload so the client can find it.
 * Batches, not one row per await: three async generators and an async check
 * per row cost promises and iterator results (measured on 200k rows, with the
 * synchronous check of validate-row.ts: 6.7 → 4.8 KB of garbage and 30 → 25
 * µs of CPU per row), and the importer decides itself when to give live
 * requests a turn (turns.ts).
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
   * The rows after any header, in upload order, a batch at a time (possibly
   * empty). Throws an AppError when the body cannot be read on (a CSV syntax
   * error, bad gzip, a client gone).
   */
  batches: AsyncIterable<readonly ImportRow[]>;
  /** How a validation field of ../validate.ts is shown to the client for this format. */
  fieldName(field: string): string;
}

/** A row or line longer than this is a rejected row, not buffered further. */
export const MAX_ROW_BYTES = 1024 * 1024;
