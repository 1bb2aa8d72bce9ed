/**
 * The rows of an NDJSON import: one reading object per line, exactly the
 * readings of POST /v1/telemetry. Unlike ../body.ts's ndjsonLines, a line is
 * a row of its own here: one that is not JSON or is longer than the row
 * limit is a rejected row and the upload reads on (a line's end is always
 * found, whatever the line held). Memory is one network chunk plus at most
 * one line; an overlong line is dropped as it streams by, never gathered.
 */
import { MAX_ROW_BYTES, type ImportRow, type RowSource } from "./rows";

const NEWLINE = 0x0a;

export function ndjsonSource(chunks: AsyncIterable<Buffer>, maxLineBytes = MAX_ROW_BYTES): RowSource {
  return { batches: ndjsonRows(chunks, maxLineBytes), fieldName: (field) => field };
}

/** The rows of each chunk as one batch (a line cut by a chunk's end is in the next chunk's batch). */
async function* ndjsonRows(chunks: AsyncIterable<Buffer>, maxLineBytes: number): AsyncGenerator<ImportRow[]> {
  let line = 0;
  let parts: Buffer[] = []; // the current line's bytes from earlier chunks
  let partBytes = 0;
  let tooLong = false;

  const endLine = (tail: Buffer): ImportRow | undefined => {
    line++;
    const long = tooLong || partBytes + tail.length > maxLineBytes;
    const bytes = long || parts.length === 0 ? tail : Buffer.concat([...parts, tail]);
    parts = [];
    partBytes = 0;
    tooLong = false;
    if (long) return { at: { line }, problems: [{ field: "reading", reason: `the line is longer than ${maxLineBytes} bytes` }] };
    const text = bytes.toString("utf8").trim();
    if (text === "") return undefined; // blank lines are no rows
    let reading: unknown;
    try {
      reading = JSON.parse(text);
    } catch {
      return { at: { line }, problems: [{ field: "reading", reason: "the line is not valid JSON" }] };
    }
    // A JSON value that is no object is validateReading's to name.
    return { at: { line }, reading };
  };

  for await (const chunk of chunks) {
    const batch: ImportRow[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE, start); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      const row = endLine(chunk.subarray(start, nl));
      start = nl + 1;
      if (row) batch.push(row);
    }
    if (start < chunk.length && !tooLong) {
      parts.push(chunk.subarray(start));
      partBytes += chunk.length - start;
      if (partBytes > maxLineBytes) {
        tooLong = true;
        parts = [];
      }
    }
    yield batch;
  }
  if (partBytes > 0 || tooLong) {
    const row = endLine(Buffer.alloc(0));
    if (row) yield [row];
  }
}
