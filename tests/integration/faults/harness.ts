/**
 * Helpers of the fault, abuse and isolation suite (on top of the ingest and
 * query harnesses): a raw HTTP client that sends exactly the bytes a test
 * gives (no content-length when chunked, any header, invalid UTF-8) and
 * survives a server that answers before reading the body; per-tenant row
 * counts of everything ingest may store; a warehouse database with the real
 * warehouse schema for the analytics routes; latency percentiles.
 */
import http from "http";
import net from "net";
import type { Pool } from "pg";
import { migrateWarehouse } from "../../../db/warehouse/migrate";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  /** The body as given; a string is sent as UTF-8. */
  body?: string | Buffer;
  /** Send the body with Transfer-Encoding: chunked (no Content-Length), in pieces of this many bytes. */
  chunked?: number;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** Sends one request on a fresh connection; resolves with the answer even if the server stopped reading the body. */
export function send(baseUrl: string, req: RawRequest, timeoutMs = 20_000): Promise<RawResponse> {
  const u = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { connection: "close", ...req.headers };
    const body = typeof req.body === "string" ? Buffer.from(req.body, "utf8") : req.body;
    if (body && !req.chunked && headers["content-length"] === undefined) headers["content-length"] = String(body.length);
    const r = http.request({ host: u.hostname, port: u.port, method: req.method, path: req.path, headers, agent: false });
    const timer = setTimeout(() => {
      r.destroy();
      reject(new Error(`no answer to ${req.method} ${req.path.slice(0, 80)} within ${timeoutMs} ms`));
    }, timeoutMs);
    r.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString("utf8");
        let json: unknown = text;
        try {
          json = JSON.parse(text);
        } catch {
          // not JSON: the test says so
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: json });
      });
    });
    // A server that answered early may reset the connection while we still write: the answer counts.
    r.on("error", (err) => {
      setTimeout(() => {
        clearTimeout(timer);
        reject(err);
      }, 200);
    });
    if (!body) return r.end();
    if (!req.chunked) return r.end(body);
    const step = req.chunked;
    let at = 0;
    const pump = () => {
      while (at < body.length) {
        const piece = body.subarray(at, at + step);
        at += step;
        if (!r.write(piece)) return r.once("drain", pump);
      }
      r.end();
    };
    pump();
  });
}

/** A socket that sends the headers of a request and `bodyBytes` of its announced body, then stalls. */
export function slowLoris(baseUrl: string, path: string, apiKey: string, bodyBytes = 5): Promise<net.Socket> {
  const u = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname, () => {
      s.write(
        `POST ${path} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${apiKey}\r\n` +
          `Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n` +
          '{"readings":[{"entity_id":1'.slice(0, bodyBytes),
      );
      resolve(s);
    });
    s.on("error", reject);
  });
}

/** Rows ingest may have stored for a tenant: history, projection, entities, attributes. */
export async function storedRows(pool: Pool, tenantId: string): Promise<Record<string, number>> {
  const { rows } = await pool.query(
    `SELECT (SELECT count(*) FROM entity_values_ts WHERE tenant_id = $1)::int AS history,
            (SELECT count(*) FROM entity_jsonb WHERE tenant_id = $1)::int AS projection,
            (SELECT count(*) FROM entities WHERE tenant_id = $1)::int AS entities,
            (SELECT count(*) FROM attributes WHERE tenant_id = $1)::int AS attributes`,
    [tenantId],
  );
  return rows[0];
}

/**
 * A database with the real warehouse schema (db/warehouse), for the
 * analytics routes without running the CDC pipeline: the test writes the
 * dimension and fact rows the loader would, and a watermark so the lag is known.
 */
export async function createWarehouse(): Promise<TestDatabase> {
  const wh = await createTestDatabase({ migrate: false });
  await migrateWarehouse(wh.pool);
  await wh.pool.query(
    `INSERT INTO loader_watermarks (consumer_group, topic, kafka_partition, last_offset, last_source_ts, pending, last_loaded_at)
     VALUES ('faults-test', 'atlas.public.entity_values_ts', 0, 1, now(), 0, now())`,
  );
  return wh;
}

/** Adds an attribute and readings of a tenant to the warehouse, as the loader would. */
export async function warehouseFacts(wh: Pool, tenantId: string, attributeId: number, name: string, entityId: number, values: Array<[Date, number]>) {
  await wh.query(
    `INSERT INTO dim_attributes (tenant_id, attribute_id, name, data_type, is_hot, source_lsn, loaded_at)
     VALUES ($1, $2, $3, 'decimal', true, 1, now()) ON CONFLICT DO NOTHING`,
    [tenantId, attributeId, name],
  );
  await wh.query(
    `INSERT INTO dim_entities (tenant_id, entity_id, entity_type, source_lsn, loaded_at) VALUES ($1, $2, 'sensor', 1, now()) ON CONFLICT DO NOTHING`,
    [tenantId, entityId],
  );
  for (const [ts, v] of values) {
    await wh.query(
      `INSERT INTO fact_readings (tenant_id, entity_id, attribute_id, ts, day, entity_type, attribute_name, data_type, value_num, source_ts, source_lsn, loaded_at)
       VALUES ($1, $2, $3, $4, ($4::timestamptz AT TIME ZONE 'UTC')::date, 'sensor', $5, 'decimal', $6, now(), 1, now())`,
      [tenantId, entityId, attributeId, ts.toISOString(), name, v],
    );
  }
}

/** The q-quantile (0..1) of `samples`, nearest rank. */
export function percentile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** True when an error body looks like it carries a stack trace or source location. */
export const leaksInternals = (text: string) => /\n\s+at |\bat [\w.<>]+ \(|\.ts:\d+|node_modules|Error: /.test(text);
