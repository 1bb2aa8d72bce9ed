/**
 * The query benches' HTTP client: undici's connection pool, not fetch().
 * fetch() builds WHATWG Request/Response objects and streams per call; at a
 * few thousand requests per second on the 2 cores it shares with the server,
 * that client cost would be measured as server latency. Pool.request reuses
 * keep-alive connections and hands back the raw body, which we read and drop.
 */
import { Pool } from "undici";
import type { Outcome } from "./open-loop";

export interface BenchRequest {
  path: string;
  method?: "GET" | "POST";
  body?: string;
  headers?: Record<string, string>;
  key: string;
}

export interface Answer extends Outcome {
  cacheStatus: string;
  source: string;
}

export interface BenchClient {
  send(r: BenchRequest): Promise<Answer>;
  close(): Promise<void>;
}

/** `connections` keep-alive connections to `baseUrl`; requests beyond them queue in the pool. */
export function benchClient(baseUrl: string, connections = 64): BenchClient {
  const pool = new Pool(baseUrl, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const header = (h: string | string[] | undefined) => (Array.isArray(h) ? h[0] : h) ?? "none";
  return {
    async send(r) {
      const res = await pool.request({
        path: r.path,
        method: r.method ?? "GET",
        headers: { authorization: `Bearer ${r.key}`, ...(r.body ? { "content-type": "application/json" } : {}), ...r.headers },
        body: r.body,
      });
      await res.body.arrayBuffer();
      return { status: res.statusCode, cacheStatus: header(res.headers["x-cache-status"]), source: header(res.headers["x-data-source"]) };
    },
    close: () => pool.close(),
  };
}
