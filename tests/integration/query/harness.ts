/**
 * The query API in-process (port 0) on a fresh test database of the real
 * stack, with the real replica (physical streaming replication carries the
 * new database over), real Redis, and two tenants.
 */
import { randomUUID } from "crypto";
import type { Server } from "http";
import net from "net";
import { Client, Pool } from "pg";
import type { Redis } from "ioredis";
import { createQueryRouter, QueryDeps } from "../../../app/query/app";
import { queryOpenApi } from "../../../app/query/openapi";
import { ReplicaSet, ReplicaSetOptions } from "../../../app/query/routing/replica-set";
import type { SearchPlan } from "../../../app/query/sql/search";
import { invalidateEntities } from "../../../app/shared/cache/entity-cache";
import { parseConfig } from "../../../app/shared/config";
import { createPool } from "../../../app/shared/db";
import { closeServer, createServiceApp, listen } from "../../../app/shared/http/server";
import { createRedis } from "../../../app/shared/redis";
import { createTenant } from "../../../app/shared/tenants";
import { databaseUrl, flush, StagedRow, TestDatabase } from "../../helpers/db";
import { requireStackVar } from "../../helpers/stack-env";

export interface Tenant {
  id: string;
  key: string;
  attrs: Map<string, number>;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface QueryApi {
  url: string;
  server: Server;
  replicaSet: ReplicaSet;
  redis?: Redis;
  request(method: string, path: string, opts?: { tenant?: Tenant; headers?: Record<string, string>; body?: unknown }): Promise<ApiResponse>;
  close(): Promise<void>;
}

/** The stack's replica URL for the test database. */
export function replicaUrl(dbName: string): string {
  return databaseUrl(requireStackVar("DATABASE_REPLICA_URLS").split(",")[0].trim(), dbName);
}

/** Waits until the replica has replayed everything the primary has written so far (the test database included). */
export async function waitForReplica(db: TestDatabase, timeoutMs = 60_000): Promise<void> {
  const { rows } = await db.pool.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = new Client({ connectionString: replicaUrl(db.name) });
    try {
      await c.connect();
      const r = await c.query<{ ok: boolean }>("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok", [rows[0].lsn]);
      if (r.rows[0].ok) return;
    } catch {
      // the database has not reached the replica yet
    } finally {
      await c.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error("replica did not catch up with the test database");
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface StartOptions {
  /** Replica pools; defaults to one pool on the stack's replica for this database. */
  replicaUrls?: string[];
  replicaSet?: ReplicaSetOptions;
  /** Redis URL; null: no cache. Defaults to the stack's Redis. */
  redisUrl?: string | null;
  /** An analytics warehouse database; absent: /v1/analytics answers 503. */
  warehouseUrl?: string;
  env?: Record<string, string>;
  /** The search's plan thresholds; small ones make every search take the GIN and fallback paths. */
  searchPlan?: SearchPlan;
}

export async function startQueryApi(db: TestDatabase, opts: StartOptions = {}): Promise<QueryApi> {
  const config = parseConfig({ DATABASE_URL: db.url, TENANT_RATE_LIMIT_RPS: "100000", ...opts.env });
  const primary = createPool(db.url, "test-primary");
  const urls = opts.replicaUrls ?? [replicaUrl(db.name)];
  const replicaSet = ReplicaSet.fromUrls(primary, urls, { intervalMs: 250, ...opts.replicaSet });
  replicaSet.start();
  const redisUrl = opts.redisUrl === undefined ? requireStackVar("REDIS_URL") : opts.redisUrl;
  const redis = redisUrl ? createRedis(redisUrl, "test-query-cache") : undefined;
  if (redis && redisUrl === requireStackVar("REDIS_URL")) {
    await new Promise<void>((resolve) => (redis.status === "ready" ? resolve() : redis.once("ready", () => resolve())));
  }
  const warehouse = opts.warehouseUrl ? createPool(opts.warehouseUrl, "test-warehouse") : undefined;
  const deps: QueryDeps = { config, primary, replicas: replicaSet, redis, warehouse, cursorSecret: "test-cursor-secret", searchPlan: opts.searchPlan };
  const app = createServiceApp({ routers: [createQueryRouter(deps)], readiness: [], openapi: queryOpenApi });
  const server = await listen(app, 0, "127.0.0.1");
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url,
    server,
    replicaSet,
    redis,
    async request(method, path, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      if (o.tenant) headers.authorization = `Bearer ${o.tenant.key}`;
      if (o.body !== undefined) headers["content-type"] ??= "application/json";
      const res = await fetch(url + path, { method, headers, body: o.body === undefined ? undefined : typeof o.body === "string" ? o.body : JSON.stringify(o.body) });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON
      }
      return { status: res.status, headers: res.headers, body };
    },
    async close() {
      await closeServer(server);
      await replicaSet.stop();
      redis?.disconnect();
      await warehouse?.end();
      await primary.end();
    },
  };
}

/** A tenant with attributes (name → [type, hot]). */
export async function makeTenant(pool: Pool, attrs: Record<string, [string, boolean]>): Promise<Tenant> {
  const t = await createTenant(pool, `tenant-${randomUUID()}`);
  const ids = new Map<string, number>();
  for (const [name, [type, hot]] of Object.entries(attrs)) {
    const { rows } = await pool.query<{ attribute_id: number }>(
      "INSERT INTO attributes (tenant_id, name, data_type, is_hot) VALUES ($1, $2, $3, $4) RETURNING attribute_id",
      [t.tenant_id, name, type, hot],
    );
    ids.set(name, rows[0].attribute_id);
  }
  return { id: t.tenant_id, key: t.api_key, attrs: ids };
}

const COLUMN: Record<string, keyof StagedRow> = {
  int: "value_int",
  decimal: "value_decimal",
  bool: "value_bool",
  string: "value_string",
  timestamp: "value_ts",
};

export interface Reading {
  entityId: number;
  ts: string | Date;
  values: Record<string, unknown>;
  entityType?: string;
}

/**
 * Writes readings the way the batch writer does (staging + stage_flush as
 * atlas_writer) and then, like the writer, invalidates the cache.
 */
export async function write(pool: Pool, tenant: Tenant, readings: Reading[], redis?: Redis): Promise<void> {
  const types = new Map<string, string>();
  const { rows } = await pool.query<{ name: string; data_type: string }>("SELECT name, data_type FROM attributes WHERE tenant_id = $1", [tenant.id]);
  for (const r of rows) types.set(r.name, r.data_type);
  const staged: StagedRow[] = [];
  for (const r of readings) {
    for (const [name, value] of Object.entries(r.values)) {
      staged.push({
        tenant_id: tenant.id,
        entity_id: r.entityId,
        entity_type: r.entityType ?? "sensor",
        attribute_id: tenant.attrs.get(name)!,
        ts: r.ts,
        [COLUMN[types.get(name)!]]: value,
      } as StagedRow);
    }
  }
  for (let i = 0; i < staged.length; i += 20_000) await flush(pool, randomUUID(), staged.slice(i, i + 20_000));
  if (redis) {
    const touched = [...new Set(readings.map((r) => r.entityId))].map((entityId) => ({ tenantId: tenant.id, entityId }));
    await invalidateEntities(redis, touched, 60);
  }
}

/** Polls until `fn` returns true. */
export async function eventually(fn: () => Promise<boolean> | boolean, timeoutMs = 15_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A TCP proxy in front of a server, which the test can break (refuse + cut connections) and restore. */
export class BreakableProxy {
  private server: net.Server | null = null;
  private sockets = new Set<net.Socket>();
  port = 0;
  constructor(private readonly targetPort: number, private readonly targetHost = "127.0.0.1") {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, "127.0.0.1", () => resolve()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** New connections are refused and open ones cut, like a replica that went away. */
  async break(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const sock of this.sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  async stop(): Promise<void> {
    await this.break();
  }
}
