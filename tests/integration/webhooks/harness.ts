/**
 * The webhooks suites' platform: the ingest API (direct mode, as `npm start`
 * runs without Kafka, or Kafka mode with a batch writer) and the query API
 * (which serves /v1/webhooks) in one in-process app on port 0, the delivery
 * worker in-process with a short retry schedule, and local receivers whose
 * answers a test scripts.
 */
import { randomBytes } from "crypto";
import http from "http";
import type { AddressInfo } from "net";
import type { Pool } from "pg";
import { parseConfig, type AtlasConfig } from "../../../app/shared/config";
import { closeServer, createServiceApp, listen } from "../../../app/shared/http/server";
import { createIngestRouter } from "../../../app/ingest/app";
import { DirectSink } from "../../../app/ingest/direct-sink";
import { createQueryRouter } from "../../../app/query/app";
import { DeliveryWorker, type WorkerOptions } from "../../../app/webhooks/delivery/worker";
import { requireStackVar } from "../../helpers/stack-env";
import { newTenant } from "../ingest/harness";

export const SECRET_KEY = randomBytes(32).toString("base64");

export function webhookConfig(dbUrl: string, overrides: Record<string, string> = {}): AtlasConfig {
  return parseConfig({
    DATABASE_URL: dbUrl,
    KAFKA_BROKERS: requireStackVar("KAFKA_BROKERS"),
    PORT: "0",
    WEBHOOK_SECRET_KEY: SECRET_KEY,
    WEBHOOK_ALLOW_PRIVATE_TARGETS: "true",
    TENANT_RATE_LIMIT_RPS: "100000",
    ...overrides,
  });
}

export interface Platform {
  url: string;
  worker?: DeliveryWorker;
  request(method: string, path: string, key: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/** The APIs (direct sink) and, unless `worker: false`, a delivery worker. */
export async function startPlatform(pool: Pool, config: AtlasConfig, worker: Partial<WorkerOptions> | false = {}): Promise<Platform> {
  const sink = new DirectSink({ pool });
  const app = createServiceApp({
    routers: [createIngestRouter({ config, pool, sink }), createQueryRouter({ config, primary: pool, replicas: [] })],
    readiness: [],
    openapi: { openapi: "3.0.3", info: { title: "test", version: "1" }, paths: {} },
  });
  const server = await listen(app, 0, "127.0.0.1");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const w = worker === false ? undefined : new DeliveryWorker({
    pool,
    secretKey: config.WEBHOOK_SECRET_KEY!,
    allowPrivateTargets: config.WEBHOOK_ALLOW_PRIVATE_TARGETS,
    pollMs: 100,
    retryDelaysMs: [300, 300, 300, 300, 300, 300, 300],
    ...worker,
  });
  w?.start();
  return {
    url,
    worker: w,
    async request(method, path, key, body) {
      const res = await fetch(url + path, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    },
    async close() {
      await w?.stop();
      await closeServer(server);
      await sink.close();
    },
  };
}

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
  at: number;
}

export type Answer = { status: number; headers?: Record<string, string> } | "hang";

/** A local receiver: records every request; `answer` decides each response (default 200). */
export class Receiver {
  readonly received: Received[] = [];
  answer: (r: Received, n: number) => Answer = () => ({ status: 200 });
  private server?: http.Server;
  private readonly hanging = new Set<http.ServerResponse>();
  url = "";

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const r: Received = { headers: req.headers, body, json: JSON.parse(body), at: Date.now() };
        this.received.push(r);
        const a = this.answer(r, this.received.length);
        if (a === "hang") return void this.hanging.add(res);
        res.writeHead(a.status, a.headers).end("ok");
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
    return this;
  }

  async waitFor(n: number, timeoutMs = 20_000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < n) {
      if (Date.now() > deadline) throw new Error(`receiver got ${this.received.length} of ${n} messages in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.received;
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

/** A tenant with the attributes `status` (string) and `seq` (int). */
export async function webhookTenant(p: Platform, pool: Pool) {
  const t = await newTenant(pool);
  for (const [name, data_type] of [["status", "string"], ["seq", "int"], ["temperature", "decimal"]]) {
    const r = await p.request("POST", "/v1/attributes", t.api_key, { name, data_type, hot: false });
    if (r.status !== 201 && r.status !== 200) throw new Error(`attribute ${name}: ${r.status}`);
  }
  return t;
}

export async function subscribe(p: Platform, key: string, url: string, extra: Record<string, unknown> = {}) {
  const r = await p.request("POST", "/v1/webhooks", key, { url, events: ["entity.created", "entity.updated", "entity.deleted", "endpoint.disabled"], ...extra });
  if (r.status !== 201) throw new Error(`subscribe: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; secret: string };
}

/** Posts readings as given (entity_type is optional) and returns once they are committed (direct mode) or in Kafka. */
export async function send(p: Platform, key: string, readings: Array<Record<string, unknown>>) {
  const r = await p.request("POST", "/v1/telemetry", key, { readings });
  if (r.status !== 202) throw new Error(`telemetry: ${r.status} ${JSON.stringify(r.body)}`);
}
