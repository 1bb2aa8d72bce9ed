/**
 * A quick latency sample of the query API on the real stack (not a test and
 * not the benchmark suite): seeds a fresh database, starts the API in-process
 * and times sequential requests per endpoint and source.
 *
 *   set -a; . .atlas/stack.env; set +a
 *   node -r ts-node/register/transpile-only tests/integration/query/latency-sample.ts [entities] [requests]
 *
 * Defaults: 20,000 entities, 300 requests per row.
 */
import { createTestDatabase } from "../../helpers/db";
import { makeTenant, QueryApi, Reading, startQueryApi, waitForReplica, write } from "./harness";

const ENTITIES = Number(process.argv[2] ?? 20_000);
const N = Number(process.argv[3] ?? 300);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function sample(api: QueryApi, label: string, make: (i: number) => [string, string, { body?: unknown; headers?: Record<string, string> }], tenant: Parameters<QueryApi["request"]>[2] extends infer O ? O : never) {
  const client: number[] = [];
  const server: number[] = [];
  const sources = new Map<string, number>();
  for (let i = 0; i < N; i++) {
    const [method, path, o] = make(i);
    const t0 = process.hrtime.bigint();
    const res = await api.request(method, path, { ...tenant, ...o, headers: { ...o.headers } });
    client.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (res.status !== 200) throw new Error(`${label}: ${res.status} ${JSON.stringify(res.body)}`);
    server.push(Number(res.headers.get("x-query-duration-ms")));
    const key = `${res.headers.get("x-data-source")}/${res.headers.get("x-cache-status")}`;
    sources.set(key, (sources.get(key) ?? 0) + 1);
  }
  client.sort((a, b) => a - b);
  server.sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(2).padStart(7);
  console.log(
    `${label.padEnd(44)} ${f(pct(client, 50))} ${f(pct(client, 95))} ${f(pct(client, 99))} | ${f(pct(server, 50))} ${f(pct(server, 95))}  ${[...sources].map(([k, v]) => `${k}:${v}`).join(" ")}`,
  );
}

async function main() {
  const db = await createTestDatabase();
  try {
    const tenant = await makeTenant(db.pool, {
      status: ["string", true],
      priority: ["int", true],
      temperature: ["decimal", true],
      online: ["bool", true],
      region: ["string", true],
      firmware: ["string", false],
    });
    const statuses = ["online", "offline", "warning", "error", "maint"];
    const now = Date.now();
    const readings: Reading[] = [];
    for (let i = 1; i <= ENTITIES; i++) {
      readings.push({
        entityId: i,
        ts: new Date(now - Math.floor(Math.random() * 86_400_000)),
        values: {
          status: statuses[i % 5],
          priority: i % 11,
          temperature: Math.round(Math.random() * 700) / 10,
          online: i % 2 === 0,
          region: `r${i % 50}`,
          firmware: `v${i % 4}`,
        },
      });
    }
    // History for entity 1: every 5 minutes over 30 days.
    const start = now - 30 * 86_400_000;
    for (let t = start; t < now; t += 300_000) readings.push({ entityId: 1, ts: new Date(t), values: { temperature: Math.sin(t / 3.6e6) * 20 + 20 } });
    const t0 = Date.now();
    await write(db.pool, tenant, readings);
    await db.pool.query("ANALYZE");
    await waitForReplica(db);
    console.log(`seeded ${ENTITIES} entities + ${Math.round((now - start) / 300_000)} history points in ${Date.now() - t0} ms`);

    const noCache = await startQueryApi(db, { redisUrl: null });
    const cached = await startQueryApi(db);
    await new Promise((r) => setTimeout(r, 1500));
    const auth = { tenant: { id: tenant.id, key: tenant.key, attrs: tenant.attrs } };
    const strong = { "X-Consistency-Level": "strong" };
    const from30 = new Date(start + 60_000).toISOString();
    const to = new Date(now).toISOString();
    const from1 = new Date(now - 86_400_000).toISOString();

    console.log(`${"endpoint (sequential, ms)".padEnd(44)}  c.p50   c.p95   c.p99 |  s.p50   s.p95  source/cache`);
    await sample(noCache, "GET entity strong (primary)", (i) => ["GET", `/v1/entities/${1 + (i % ENTITIES)}`, { headers: strong }], auth);
    await sample(noCache, "GET entity eventual (replica)", (i) => ["GET", `/v1/entities/${1 + (i % ENTITIES)}`, {}], auth);
    await sample(cached, "GET entity eventual, 10 hot ids (cache)", (i) => ["GET", `/v1/entities/${1 + (i % 10)}`, {}], auth);
    await sample(noCache, "search eq status, limit 100 (replica)", () => ["POST", "/v1/entities/search", { body: { filters: [{ attribute: "status", op: "eq", value: "warning" }] } }], auth);
    await sample(noCache, "search selective eq region+status (replica)", () => ["POST", "/v1/entities/search", { body: { filters: [{ attribute: "region", op: "eq", value: "r7" }, { attribute: "status", op: "eq", value: "warning" }] } }], auth);
    await sample(noCache, "search in + gte + lt, limit 100 (replica)", () => ["POST", "/v1/entities/search", { body: { filters: [{ attribute: "status", op: "in", value: ["online", "error"] }, { attribute: "priority", op: "gte", value: 5 }, { attribute: "temperature", op: "lt", value: 20 }] } }], auth);
    await sample(cached, "search eq status (cache)", () => ["POST", "/v1/entities/search", { body: { filters: [{ attribute: "status", op: "eq", value: "warning" }] } }], auth);
    await sample(noCache, "timeseries raw 1 day, 288 pts (replica)", () => ["GET", `/v1/entities/1/timeseries?attributes=temperature&from=${from1}&to=${to}`, {}], auth);
    await sample(noCache, "timeseries 30 d, 1h avg, Berlin (replica)", () => ["GET", `/v1/entities/1/timeseries?attributes=temperature&from=${from30}&to=${to}&interval=1h&agg=avg&tz=Europe/Berlin`, {}], auth);
    await sample(noCache, "timeseries 30 d, 1d max, Berlin (replica)", () => ["GET", `/v1/entities/1/timeseries?attributes=temperature&from=${from30}&to=${to}&interval=1d&agg=max&tz=Europe/Berlin`, {}], auth);
    await noCache.close();
    await cached.close();
  } finally {
    await db.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
