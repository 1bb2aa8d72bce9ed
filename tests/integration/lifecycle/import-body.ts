/**
 * A large CSV import, generated and uploaded from its own process. Building a
 * million rows of text is CPU and garbage of the client's: run where the
 * ingest API runs (the test process), it stalls the API's event loop and
 * counts its GC pauses against the very live latency being measured. Here the
 * only process under test is the API.
 *
 *   spawnEntry("tests/integration/lifecycle/import-body.ts", {
 *     ATLAS_IMPORT_URL: api.url, ATLAS_IMPORT_KEY: key, ATLAS_IMPORT_ROWS: "1000000", ATLAS_IMPORT_BASE_MS: String(base),
 *   })
 *
 * The body: entity by entity, PER_ENTITY readings per entity a minute apart
 * from ATLAS_IMPORT_BASE_MS, columns temperature (decimal), pressure (decimal)
 * and status (string), so 3 values per row. Streamed with back-pressure: the
 * API paces the upload by its backfill quota. Logs one JSON line,
 * {"msg":"import answered", status, location, body, body_bytes, seconds}, and
 * exits 0 (or {"msg":"import failed", error} and 1).
 */
import http from "http";
import { Readable } from "stream";
import { pipeline } from "stream/promises";

export const PER_ENTITY = 1_000;
export const IMPORT_COLUMNS = [["temperature", "decimal"], ["pressure", "decimal"], ["status", "string"]] as const;

const iso = (ms: number) => new Date(ms).toISOString();

/** The CSV, ~250 rows per chunk; `counted` is told every chunk's bytes. */
export async function* importCsv(rows: number, baseMs: number, counted: (bytes: number) => void = () => undefined): AsyncGenerator<string> {
  yield "entity_id,entity_type,ts,temperature,pressure,status\n";
  for (let k = 0; k < rows; ) {
    let lines = "";
    for (let j = 0; j < 250 && k < rows; j++, k++) {
      const entity = Math.floor(k / PER_ENTITY) + 1;
      lines += `${entity},sensor,${iso(baseMs + (k % PER_ENTITY) * 60_000)},${(k % 1000) / 8},${1000 + (k % 7)},${k % 3 ? "ok" : "check"}\n`;
    }
    counted(lines.length);
    yield lines;
  }
}

function upload(url: string, key: string, body: Readable): Promise<{ status: number; location?: string; body: unknown }> {
  const u = new URL(`${url}/v1/imports`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { "content-type": "text/csv", authorization: `Bearer ${key}` } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (text += c));
        res.on("end", () => {
          let json: unknown = text;
          try {
            json = JSON.parse(text);
          } catch {
            // not JSON: the text goes into the log line for the assertion message
          }
          resolve({ status: res.statusCode!, location: res.headers.location, body: json });
        });
      },
    );
    req.on("error", reject);
    pipeline(body, req).catch(() => undefined); // an early answer cuts the upload
  });
}

async function main(): Promise<void> {
  const env = (name: string) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is required`);
    return v;
  };
  let bytes = 0;
  const started = Date.now();
  const answer = await upload(
    env("ATLAS_IMPORT_URL"),
    env("ATLAS_IMPORT_KEY"),
    Readable.from(importCsv(Number(env("ATLAS_IMPORT_ROWS")), Number(env("ATLAS_IMPORT_BASE_MS")), (n) => (bytes += n))),
  );
  process.stdout.write(`${JSON.stringify({ msg: "import answered", ...answer, body_bytes: bytes, seconds: (Date.now() - started) / 1000 })}\n`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stdout.write(`${JSON.stringify({ msg: "import failed", error: String((err as Error)?.stack ?? err) })}\n`);
    process.exit(1);
  });
}
