/**
 * End-to-end load of the write path, as deployed: the ingest API
 * (app/ingest/main.ts) and the batch writer (app/ingest/writer-main.ts) as
 * their own processes against a fresh database on the stack, HTTP → Kafka →
 * writer → PostgreSQL. Prints the accept rate and the end-to-end values/s
 * (first request sent → last value committed).
 *
 *   set -a; . .atlas/stack.env; set +a
 *   node -r ts-node/register/transpile-only tests/integration/ingest/load.ts [values] [concurrency] [readings/request] [values/reading]
 *
 * Defaults: 200000 values, 4 concurrent clients, 1000 readings per request, 4 values per reading.
 */
import { createTestDatabase } from "../../helpers/db";
import { requireStackVar } from "../../helpers/stack-env";
import { historyCount, newSuffix, newTenant, post, registerAttributes, spawnEntry } from "./harness";

async function main(): Promise<void> {
  const [values = 200_000, concurrency = 4, perRequest = 1_000, perReading = 4] = process.argv.slice(2).map(Number);
  const readings = Math.ceil(values / perReading);
  const requests = Math.ceil(readings / perRequest);
  const db = await createTestDatabase();
  const suffix = newSuffix();
  const env = {
    DATABASE_URL: db.url,
    KAFKA_BROKERS: requireStackVar("KAFKA_BROKERS"),
    REDIS_URL: requireStackVar("REDIS_URL"),
    PORT: "0",
    ATLAS_TOPIC_SUFFIX: suffix,
    LOG_LEVEL: "warn",
  };
  const apiProc = spawnEntry("app/ingest/main.ts", { ...env, LOG_LEVEL: "info" });
  const writerProc = spawnEntry("app/ingest/writer-main.ts", { ...env, LOG_LEVEL: "info" });
  try {
    const listening = await apiProc.waitForLog((l) => l.msg === "ingest api listening", 90_000);
    await writerProc.waitForLog((l) => l.msg === "batch writer started", 90_000);
    const url = `http://127.0.0.1:${listening.port}`;
    const t = await newTenant(db.pool);
    const names = Array.from({ length: perReading }, (_, i) => `a${i}`);
    await registerAttributes(url, t.api_key, names.map((n, i) => [n, "decimal", i < 2] as [string, string, boolean]));
    await db.pool.query("UPDATE tenants SET rate_limit_rps = 100000 WHERE tenant_id = $1", [t.tenant_id]);

    const base = Date.now() - 3_600_000;
    const latencies: number[] = [];
    let next = 0;
    const started = Date.now();
    const client = async () => {
      for (let r = next++; r < requests; r = next++) {
        const batch = [];
        for (let j = 0; j < perRequest && r * perRequest + j < readings; j++) {
          const i = r * perRequest + j;
          const v: Record<string, number> = {};
          for (const n of names) v[n] = i / 7;
          batch.push({ entity_id: (i % 10_000) + 1, entity_type: "sensor", ts: new Date(base + i).toISOString(), values: v });
        }
        const t0 = Date.now();
        const res = await post(`${url}/v1/telemetry`, t.api_key, { readings: batch });
        latencies.push(Date.now() - t0);
        if (res.status !== 202) throw new Error(`request ${r}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, client));
    const acceptedMs = Date.now() - started;
    const expected = readings * perReading;
    for (;;) {
      if ((await historyCount(db.pool, t.tenant_id)) >= expected) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const storedMs = Date.now() - started;
    const health = await writerProc.waitForLog((l) => l.msg === "batch writer health endpoint listening");
    const metrics = await fetch(`http://127.0.0.1:${health.port}/metrics`).then((r) => r.text());
    const metric = (name: string) => Number(new RegExp(`^${name}[^\\n]* (\\S+)$`, "m").exec(metrics)?.[1] ?? NaN);
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
    console.log(
      JSON.stringify({
        values: expected,
        readings,
        requests,
        concurrency,
        readings_per_request: perRequest,
        values_per_reading: perReading,
        accepted_ms: acceptedMs,
        accepted_values_per_s: Math.round(expected / (acceptedMs / 1000)),
        stored_ms: storedMs,
        end_to_end_values_per_s: Math.round(expected / (storedMs / 1000)),
        request_ms_p50: pct(0.5),
        request_ms_p99: pct(0.99),
        writer_batches: metric("atlas_writer_write_seconds_count"),
        writer_busy_s: Math.round(metric("atlas_writer_write_seconds_sum") * 10) / 10,
        writer_copy_s: Math.round(metric('atlas_writer_step_seconds_sum\\{step="copy"') * 10) / 10,
        writer_flush_s: Math.round(metric('atlas_writer_step_seconds_sum\\{step="flush"') * 10) / 10,
        writer_commit_s: Math.round(metric('atlas_writer_step_seconds_sum\\{step="commit"') * 10) / 10,
        api_peak_rss_mib: Math.round(apiProc.memory().peak / 1048576),
        writer_peak_rss_mib: Math.round(writerProc.memory().peak / 1048576),
      }),
    );
  } finally {
    apiProc.proc.kill("SIGTERM");
    writerProc.proc.kill("SIGTERM");
    await Promise.all([apiProc.exited, writerProc.exited]);
    await db.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
