/**
 * Test harness of the ingest suites: the API in-process on port 0 (Kafka or
 * direct sink), an in-process batch writer, tenants, and helpers to post and
 * to wait for storage. Every run uses its own topic suffix and group id, so
 * test files never see each other's messages.
 */
import { randomBytes } from "crypto";
import type { Server } from "http";
import type { AddressInfo } from "net";
import type { Pool } from "pg";
import type { Redis } from "ioredis";
import { parseConfig, type AtlasConfig } from "../../../app/shared/config";
import { closeServer, createServiceApp, listen } from "../../../app/shared/http/server";
import { configureLog } from "../../../app/shared/log";
import { createTenant } from "../../../app/shared/tenants";
import { createIngestRouter, type IngestRateLimits } from "../../../app/ingest/app";
import { DirectSink } from "../../../app/ingest/direct-sink";
import { createKafka, ensureTopics } from "../../../app/ingest/kafka";
import { KafkaSink } from "../../../app/ingest/kafka-sink";
import { openapi } from "../../../app/ingest/openapi";
import type { ReadingSink } from "../../../app/ingest/types";
import { BatchWriter, topicNames } from "../../../app/ingest/writer";
import { WRITER_GROUP_ID } from "../../../app/ingest/types";
import { requireStackVar } from "../../helpers/stack-env";

// Tests assert on behaviour, not on log lines: keep mocha's output readable.
configureLog({ level: (process.env.LOG_LEVEL as "debug" | undefined) ?? "error" });

export const newSuffix = () => `.test-${randomBytes(4).toString("hex")}`;

export function testConfig(dbUrl: string, overrides: Record<string, string | undefined> = {}): AtlasConfig {
  return parseConfig({
    DATABASE_URL: dbUrl,
    KAFKA_BROKERS: requireStackVar("KAFKA_BROKERS"),
    REDIS_URL: requireStackVar("REDIS_URL"),
    PORT: "0",
    ...overrides,
  });
}

export interface RunningApi {
  url: string;
  sink: ReadingSink;
  close(): Promise<void>;
}

export async function startApi(opts: {
  config: AtlasConfig;
  pool: Pool;
  mode: "kafka" | "direct";
  suffix?: string;
  brokers?: string[];
  rateLimits?: IngestRateLimits;
  sendTimeoutMs?: number;
}): Promise<RunningApi> {
  const sink: ReadingSink =
    opts.mode === "kafka"
      ? new KafkaSink(
          createKafka({ brokers: opts.brokers ?? opts.config.KAFKA_BROKERS!, clientId: "atlas-ingest-test" }),
          { topics: topicNames(opts.suffix ?? ""), sendTimeoutMs: opts.sendTimeoutMs },
        )
      : new DirectSink({ pool: opts.pool });
  if (opts.mode === "kafka") {
    // As app/ingest/main.ts does at start.
    const admin = createKafka({ brokers: opts.config.KAFKA_BROKERS!, clientId: "atlas-ingest-test-admin" }).admin();
    await admin.connect();
    await ensureTopics(admin, topicNames(opts.suffix ?? ""));
    await admin.disconnect();
  }
  const app = createServiceApp({
    routers: [createIngestRouter({ config: opts.config, pool: opts.pool, sink, rateLimits: opts.rateLimits })],
    readiness: [{ name: "sink", check: () => sink.ready() }],
    openapi,
  });
  const server: Server = await listen(app, 0, "127.0.0.1");
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    sink,
    close: async () => {
      await closeServer(server);
      await sink.close();
    },
  };
}

export async function startWriter(pool: Pool, suffix: string, redis?: Redis): Promise<BatchWriter> {
  const writer = new BatchWriter({
    kafka: createKafka({ brokers: requireStackVar("KAFKA_BROKERS").split(","), clientId: "atlas-writer-test" }),
    pool,
    redis,
    cacheTtlSeconds: 60,
    topics: topicNames(suffix),
    groupId: WRITER_GROUP_ID + suffix,
    dbHeartbeatMs: 0,
  });
  await writer.start();
  return writer;
}

export async function newTenant(pool: Pool, opts: { unknownAttributes?: "reject" | "register" } = {}) {
  return createTenant(pool, `t-${randomBytes(5).toString("hex")}`, opts);
}

export async function post(url: string, key: string, body: unknown, contentType = "application/json") {
  const res = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": contentType },
    body: typeof body === "string" || body instanceof Uint8Array ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, body: json, headers: res.headers };
}

export async function registerAttributes(api: string, key: string, attrs: Array<[string, string, boolean?]>) {
  for (const [name, data_type, hot] of attrs) {
    const r = await post(`${api}/v1/attributes`, key, { name, data_type, hot: hot ?? false });
    if (r.status !== 201 && r.status !== 200) throw new Error(`register ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function historyCount(pool: Pool, tenantId: string): Promise<number> {
  const { rows } = await pool.query("SELECT count(*)::int AS n FROM entity_values_ts WHERE tenant_id = $1", [tenantId]);
  return rows[0].n;
}

export interface Child {
  proc: import("child_process").ChildProcess;
  /** Resolves with the first JSON log line matching `pred`. */
  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Peak and current resident set size, bytes (Linux /proc). */
  memory(): { rss: number; peak: number };
  exited: Promise<number | null>;
}

/** Runs an entry point of the app as its own process, as the containers do (ts-node, transpile only). */
export function spawnEntry(file: string, env: Record<string, string>): Child {
  const { spawn } = require("child_process") as typeof import("child_process");
  const fs = require("fs") as typeof import("fs");
  const proc = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", file], {
    cwd: process.cwd(),
    env: { ...process.env, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: Array<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  const onData = (buf: Buffer) => {
    for (const text of buf.toString().split("\n")) {
      if (!text.trim()) continue;
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text);
      } catch {
        line = { msg: text };
      }
      if (process.env.ATLAS_TEST_CHILD_LOGS) process.stderr.write(`[child] ${text}\n`);
      lines.push(line);
      for (const w of [...waiters]) if (w.pred(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  proc.stdout!.on("data", onData);
  proc.stderr!.on("data", onData);
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  return {
    proc,
    exited,
    waitForLog(pred, timeoutMs = 60_000) {
      const hit = lines.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line from ${file} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ pred, resolve: (l) => { clearTimeout(timer); resolve(l); } });
      });
    },
    memory() {
      const status = fs.readFileSync(`/proc/${proc.pid}/status`, "utf8");
      const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)![1]) * 1024;
      return { rss: kb("VmRSS"), peak: kb("VmHWM") };
    },
  };
}
