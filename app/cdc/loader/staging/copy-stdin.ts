/**
 * PostgreSQL: the rows go over the warehouse connection as one COPY FROM
 * STDIN in text format, streamed in chunks (no per-row bind parameters, no
 * 65,535-parameter chunking as the multi-row INSERT needs).
 */
import { Readable } from "stream";
import { pipeline } from "stream/promises";
import { from as copyFrom } from "pg-copy-streams";
import type { PoolClient } from "../../../shared/db";
import { copyEscape } from "../../../ingest/writer/store-batch";
import { fieldText } from "./field-text";
import { checkSpec, type StageLoader, type StageSpec } from "./stage-loader";

/** Rows per chunk written to the COPY stream. */
const CHUNK_ROWS = 1000;

function textLine(row: unknown[]): string {
  return row.map((v) => {
    const text = fieldText(v);
    return text === null ? "\\N" : copyEscape(text);
  }).join("\t") + "\n";
}

function* textChunks(rows: unknown[][], width: number): Generator<string> {
  for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
    let chunk = "";
    for (const row of rows.slice(start, start + CHUNK_ROWS)) {
      if (row.length !== width) throw new Error(`staging: a row has ${row.length} values for ${width} columns`);
      chunk += textLine(row);
    }
    yield chunk;
  }
}

/** `COPY <table> (<columns>) FROM STDIN` plus its WITH options, for PostgreSQL. */
export function copyFromStdinSql(spec: StageSpec, options = ""): string {
  return `COPY ${spec.name} (${spec.columns.map(([c]) => c).join(", ")}) FROM STDIN${options ? ` WITH (${options})` : ""}`;
}

/** Streams `source` into COPY FROM STDIN on `client` (the caller holds the client; never a pool: pg-copy-streams README). */
export async function copyIn(client: PoolClient, sql: string, source: NodeJS.ReadableStream | Readable): Promise<void> {
  await pipeline(source, client.query(copyFrom(sql)));
}

export const copyStdinLoader: StageLoader = {
  async load(client, spec, rows) {
    checkSpec(spec);
    if (rows.length === 0) return;
    await copyIn(client, copyFromStdinSql(spec), Readable.from(textChunks(rows, spec.columns.length)));
  },
  async settle() {
    // Nothing outside the transaction.
  },
};
