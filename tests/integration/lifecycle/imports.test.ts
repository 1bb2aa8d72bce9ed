/**
 * POST /v1/imports on the real stack: bad rows are reported and the rest
 * stored, a re-upload stores nothing twice, a dropped database connection
 * answers 503 with the job (these on an API in this process in direct mode),
 * and a 1M-row import runs in bounded memory while live ingest keeps its
 * latency, measured as deployed: the API in Kafka mode with a batch writer
 * process, the body uploaded from its own process (import-body.ts). The 1M-row
 * test prints its measurements as one JSON line (ATLAS_IMPORT_ROWS and
 * ATLAS_IMPORT_QUOTA change its size and the backfill quota).
 */
import { expect } from "chai";
import http from "http";
import { monitorEventLoopDelay, PerformanceObserver } from "perf_hooks";
import { Readable } from "stream";
import { pipeline } from "stream/promises";
import { gzipSync } from "zlib";
import { getJob } from "../../../app/lifecycle/jobs";
import { createPool, type Pool } from "../../../app/shared/db";
import { projectionOf, useTestDatabase } from "../../helpers/db";
import { endChild, startWriterProcess } from "../faults/stack";
import { historyCount, newSuffix, newTenant, post, registerAttributes, spawnEntry, startApi, testConfig, waitFor, type Child, type RunningApi } from "../ingest/harness";
import { IMPORT_COLUMNS } from "./import-body";

const DAY = 86_400_000;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/** Streams `body` as the request body (never built whole), resolving with the answer. */
function upload(url: string, key: string | undefined, contentType: string, body: Readable | string | Buffer, extra: http.OutgoingHttpHeaders = {}): Promise<Answer> {
  const u = new URL(`${url}/v1/imports`);
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { "content-type": contentType, ...extra };
    if (key) headers.authorization = `Bearer ${key}`;
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: "POST", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => {
        let json: unknown = text;
        try {
          json = JSON.parse(text);
        } catch {
          // not JSON: keep the text for the assertion message
        }
        resolve({ status: res.statusCode!, headers: res.headers, body: json });
      });
    });
    req.on("error", reject);
    pipeline(body instanceof Readable ? body : Readable.from([body]), req).catch(() => undefined); // an early answer cuts the upload
  });
}

const iso = (ms: number) => new Date(ms).toISOString();

describe("POST /v1/imports: bulk backfill through the backfill lane", function () {
  this.timeout(120_000);
  const db = useTestDatabase();
  let api: RunningApi;
  let tenant: { tenant_id: string; api_key: string };
  // The deployment's default backfill quota: on this 2-core stack an import
  // tops out near 13,000 rows/s anyway, so a raised quota would only take the
  // headroom live ingest needs (ATLAS_IMPORT_QUOTA overrides).
  const QUOTA = Number(process.env.ATLAS_IMPORT_QUOTA ?? 10_000);

  let apiPool: Pool;

  before(async () => {
    // The API's own pool, made as the services make theirs: a connection the
    // database drops fails its statement, not the process.
    apiPool = createPool(db.url, "ingest");
    api = await startApi({
      config: testConfig(db.url, { KAFKA_BROKERS: undefined }),
      pool: apiPool,
      mode: "direct",
      rateLimits: { backfillReadingsPerSecond: QUOTA },
    });
    tenant = await newTenant(db.pool);
    await registerAttributes(api.url, tenant.api_key, [["temperature", "decimal", true], ["status", "string", true], ["count", "int"]]);
  });
  after(async () => {
    await api?.close();
    await apiPool?.end();
  });

  it("when there is no API key, then 401", async () => {
    const r = await upload(api.url, undefined, "text/csv", "entity_id,ts,temperature\n");
    expect(r.status).to.equal(401);
    expect(r.body.error.code).to.equal("unauthorized");
  });

  it("when the content type is neither NDJSON nor CSV, then 415 unsupported_media_type naming Content-Type", async () => {
    const r = await upload(api.url, tenant.api_key, "application/json", '{"readings":[]}');
    expect(r.status).to.equal(415);
    expect(r.body.error).to.include({ code: "unsupported_media_type", field: "Content-Type" });
  });

  it("when a CSV column is not a registered attribute, then 400 unknown_attributes before anything is stored", async () => {
    const r = await upload(api.url, tenant.api_key, "text/csv", `entity_id,entity_type,ts,humidity\n1,sensor,${iso(Date.now() - 10 * DAY)},5\n`);
    expect(r.status).to.equal(400);
    expect(r.body.error).to.include({ code: "unknown_attributes", field: "humidity" });
    expect(r.headers.location).to.equal(undefined);
  });

  it("when a CSV has a bad row, then that row is reported with its row, line and reason, and every other row is in history and latest values", async () => {
    const t = await newTenant(db.pool);
    await registerAttributes(api.url, t.api_key, [["temperature", "decimal", true], ["status", "string", true], ["count", "int"]]);
    const day = Date.now() - 20 * DAY;
    const csv = [
      "entity_id,entity_type,ts,temperature,status,count",
      `1,sensor,${iso(day)},20.5,online,1`,
      `1,sensor,${iso(day + 60_000)},21.5,,2`, // an empty cell: no status value
      `2,sensor,${iso(day)},warm,online,3`, // the bad row: data row 3, line 4
      `2,sensor,${iso(day + 60_000)},19,"offline, for now",4`,
      `3,valve,${day + 120_000},7.25,closed,`,
    ].join("\r\n");
    const r = await upload(api.url, t.api_key, "text/csv; charset=utf-8", csv);

    expect(r.status, JSON.stringify(r.body)).to.equal(201);
    expect(r.headers.location).to.equal(`/v1/jobs/${r.body.job_id}`);
    expect(r.body).to.include({ kind: "import", state: "succeeded" });
    expect(r.body.result).to.deep.include({ rows_read: 5, accepted: 4, rejected: 1 });
    expect(r.body.result.rejections).to.have.length(1);
    expect(r.body.result.rejections[0]).to.include({ line: 4, row: 3, field: "temperature" });
    expect(r.body.result.rejections[0].reason).to.match(/"warm" is not a number/);

    const job = await getJob(db.pool, t.tenant_id, r.body.job_id);
    expect(job!.state).to.equal("succeeded");
    expect(job!.result).to.deep.equal(r.body.result);
    expect(job!.params).to.deep.equal({ format: "csv", content_type: "text/csv" });

    // 3 + 2 + 3 + 2 values of the four good rows.
    expect(await historyCount(db.pool, t.tenant_id)).to.equal(10);
    const e1 = await projectionOf(db.pool, t.tenant_id, 1);
    expect(e1!.latest.temperature).to.deep.equal({ v: 21.5, ts: iso(day + 60_000) });
    expect(e1!.latest.status.v).to.equal("online");
    expect(e1!.latest.count.v).to.equal(2);
    const e2 = await projectionOf(db.pool, t.tenant_id, 2);
    expect(e2!.latest.temperature.v).to.equal(19);
    expect(e2!.latest.status.v).to.equal("offline, for now");
    const e3 = await projectionOf(db.pool, t.tenant_id, 3);
    expect(e3!.entity_type).to.equal("valve");
    expect(e3!.latest.temperature).to.deep.equal({ v: 7.25, ts: iso(day + 120_000) });
    expect(e3!.latest).to.not.have.property("count");
  });

  it("when a CSV has a syntax error, then 400 malformed_csv names its line, the rows before it are stored, and the job failed", async () => {
    const t = await newTenant(db.pool);
    await registerAttributes(api.url, t.api_key, [["temperature", "decimal"]]);
    const day = Date.now() - 20 * DAY;
    const csv = ["entity_id,entity_type,ts,temperature", `1,sensor,${day},1`, `2,sensor,${day},2`, `3,sensor,"${day}"x,3`, `4,sensor,${day},4`].join("\n");
    const r = await upload(api.url, t.api_key, "text/csv", csv);
    expect(r.status, JSON.stringify(r.body)).to.equal(400);
    expect(r.body.error).to.include({ code: "malformed_csv", field: "body" });
    expect(r.body.error.details).to.include({ line: 4, accepted: 2 });
    const job = await getJob(db.pool, t.tenant_id, r.body.error.details.job_id);
    expect(job).to.include({ state: "failed" });
    expect(job!.error).to.match(/line 4/);
    expect(await historyCount(db.pool, t.tenant_id)).to.equal(2);
  });

  it("when an NDJSON import is uploaded twice (the second time gzipped), then the second stores nothing twice, and bad lines are reported while the rest is stored", async () => {
    const t = await newTenant(db.pool);
    await registerAttributes(api.url, t.api_key, [["temperature", "decimal", true], ["status", "string", true]]);
    const start = Date.now() - 60 * DAY;
    const lines = Array.from({ length: 200 }, (_, i) =>
      JSON.stringify({ entity_id: (i % 10) + 1, entity_type: "sensor", ts: iso(start + i * 1000), values: { temperature: i / 4, status: i % 2 ? "on" : "off" } }),
    );
    lines.splice(50, 0, "{not json");
    lines.splice(100, 0, JSON.stringify({ entity_id: 1, entity_type: "sensor", values: { temperature: 1 } })); // no ts
    lines.splice(150, 0, JSON.stringify({ entity_id: 1, entity_type: "sensor", ts: iso(start), values: { temperature: "x".repeat(2 * 1024 * 1024) } }));
    const body = lines.join("\n") + "\n";

    const first = await upload(api.url, t.api_key, "application/x-ndjson", body);
    expect(first.status, JSON.stringify(first.body)).to.equal(201);
    expect(first.body.result).to.deep.include({ rows_read: 203, accepted: 200, rejected: 3 });
    expect(first.body.result.rejections.map((x: { line: number; field: string }) => [x.line, x.field])).to.deep.equal([
      [51, "reading"],
      [101, "ts"],
      [151, "reading"],
    ]);
    expect(first.body.result.rejections[0].reason).to.match(/not valid JSON/);
    expect(first.body.result.rejections[2].reason).to.match(/longer than 1048576 bytes/);
    const stored = await historyCount(db.pool, t.tenant_id);
    expect(stored).to.equal(400);

    const again = await upload(api.url, t.api_key, "application/x-ndjson", gzipSync(body), { "content-encoding": "gzip" });
    expect(again.status).to.equal(201);
    expect(again.body.job_id).to.not.equal(first.body.job_id);
    expect(again.body.result).to.deep.include({ accepted: 200, rejected: 3 });
    expect(await historyCount(db.pool, t.tenant_id)).to.equal(stored);
  });

  it("when the database drops the import's connection mid-way, then 503 with the job id, the job failed, what was committed stays, and a re-upload completes it without duplicates", async () => {
    const t = await newTenant(db.pool);
    await registerAttributes(api.url, t.api_key, [["temperature", "decimal"]]);
    const ROWS = 100_000;
    const base = Date.now() - 30 * DAY;
    const body = () =>
      Readable.from(
        (function* () {
          yield "entity_id,entity_type,ts,temperature\n";
          for (let k = 0; k < ROWS; k += 500) {
            let lines = "";
            for (let j = k; j < k + 500; j++) lines += `${(j % 100) + 1},sensor,${base + j * 1000},${j / 2}\n`;
            yield lines;
          }
        })(),
      );
    const answer = upload(api.url, t.api_key, "text/csv", body());
    // Past the quota's initial burst (2 s of it), then the backend storing a chunk is terminated.
    await new Promise((r) => setTimeout(r, 2_500));
    let killed = 0;
    for (let tries = 0; killed === 0 && tries < 500; tries++) {
      const { rows } = await db.pool.query(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
           AND (query LIKE 'COPY entity_values_staging%' OR query LIKE '%stage_flush%')`,
      );
      killed = rows[0].n;
      if (killed === 0) await new Promise((r) => setTimeout(r, 10));
    }
    expect(killed, "a storing backend to terminate").to.be.greaterThan(0);
    const r = await answer;

    expect(r.status, JSON.stringify(r.body)).to.equal(503);
    expect(r.body.error.code).to.equal("dependency_unavailable");
    expect(r.headers["retry-after"]).to.match(/^\d+$/);
    const jobId = r.body.error.details.job_id;
    expect(r.headers.location).to.equal(`/v1/jobs/${jobId}`);
    const job = await getJob(db.pool, t.tenant_id, jobId);
    expect(job!.state).to.equal("failed");
    expect(job!.error).to.match(/database is unavailable/);
    const committed = await historyCount(db.pool, t.tenant_id);
    expect(committed).to.equal(job!.result.accepted).and.to.equal(r.body.error.details.accepted);
    expect(committed).to.be.greaterThan(0).and.lessThan(ROWS);

    const again = await upload(api.url, t.api_key, "text/csv", body());
    expect(again.status, JSON.stringify(again.body)).to.equal(201);
    expect(again.body.result).to.deep.include({ accepted: ROWS, rejected: 0 });
    expect(await historyCount(db.pool, t.tenant_id)).to.equal(ROWS);
  });

  // The deployed path: live readings are only published to Kafka (the batch
  // writer, its own process as in the deployment, stores them), while an
  // import on the same API COPYs into PostgreSQL itself. The body is made
  // and uploaded by its own process (import-body.ts), so this process is the
  // API under test plus a small live client.
  describe("under live ingest as deployed (Kafka mode, a batch writer process)", function () {
    const suffix = newSuffix();
    let kafkaApi: RunningApi;
    let kafkaPool: Pool;
    let writer: Child | undefined;

    before(async () => {
      kafkaPool = createPool(db.url, "ingest");
      kafkaApi = await startApi({ config: testConfig(db.url), pool: kafkaPool, mode: "kafka", suffix, rateLimits: { backfillReadingsPerSecond: QUOTA } });
      writer = await startWriterProcess(db.url, suffix);
    });
    after(async () => {
      await endChild(writer);
      await kafkaApi?.close();
      await kafkaPool?.end();
    });

    it("when 1M CSV rows are imported while live ingest runs, then all are accepted, memory stays bounded, and live p99 stays within 2× of unloaded", async function () {
      this.timeout(15 * 60_000);
      const ROWS = Number(process.env.ATLAS_IMPORT_ROWS ?? 1_000_000);
      const t = await newTenant(db.pool);
      await registerAttributes(kafkaApi.url, t.api_key, IMPORT_COLUMNS.map(([name, type]) => [name, type, name !== "pressure"]));

      // Live ingest: one small request at a time, a reading of now (live lane), ~50/s.
      const live = { samples: [] as number[], posts: 0, failures: 0 };
      const liveLoop = async (until: () => boolean) => {
        for (let i = live.posts; !until(); i++) {
          const t0 = process.hrtime.bigint();
          const r = await post(`${kafkaApi.url}/v1/telemetry`, t.api_key, {
            readings: [{ entity_id: 900_000 + (i % 50), entity_type: "sensor", values: { temperature: i % 40, status: "live" } }],
          });
          live.samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
          live.posts++;
          if (r.status !== 202) live.failures++;
          await new Promise((res) => setTimeout(res, 20));
        }
      };
      const p = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

      // This process is the API: its event-loop stalls and GC pauses tell its own CPU work from waiting on others.
      const watch = () => {
        const loop = monitorEventLoopDelay({ resolution: 5 });
        const gc = { count: 0, total_ms: 0, max_ms: 0 };
        const obs = new PerformanceObserver((list) => {
          for (const e of list.getEntries()) {
            gc.count++;
            gc.total_ms += e.duration;
            gc.max_ms = Math.max(gc.max_ms, e.duration);
          }
        });
        loop.enable();
        obs.observe({ entryTypes: ["gc"] });
        return () => {
          loop.disable();
          obs.disconnect();
          return {
            loop_p99_ms: +(loop.percentile(99) / 1e6).toFixed(1),
            loop_max_ms: +(loop.max / 1e6).toFixed(1),
            gc: { count: gc.count, total_ms: Math.round(gc.total_ms), max_ms: +gc.max_ms.toFixed(1) },
          };
        };
      };

      // Unloaded first (after a warm-up).
      await liveLoop(() => live.samples.length >= 50);
      live.samples = [];
      const unloadedUntil = Date.now() + 20_000;
      const stopUnloadedWatch = watch();
      await liveLoop(() => Date.now() > unloadedUntil);
      const unloadedWatch = stopUnloadedWatch();
      const unloaded = live.samples;
      live.samples = [];

      const uploader = spawnEntry("tests/integration/lifecycle/import-body.ts", {
        ATLAS_IMPORT_URL: kafkaApi.url,
        ATLAS_IMPORT_KEY: t.api_key,
        ATLAS_IMPORT_ROWS: String(ROWS),
        ATLAS_IMPORT_BASE_MS: String(Date.now() - 40 * DAY),
      });
      let importing = true;
      let during: Promise<void> = Promise.resolve();
      let stopImportWatch: (() => ReturnType<ReturnType<typeof watch>>) | undefined;
      let peak = 0;
      let rss0 = 0;
      let sampler: NodeJS.Timeout | undefined;
      let answer: Record<string, any>;
      let cpu: NodeJS.CpuUsage;
      let started = 0;
      try {
        // Measured from the moment the import runs (its job exists), not while the uploader process starts.
        await waitFor(async () => (await db.pool.query("SELECT 1 FROM jobs WHERE tenant_id = $1 AND kind = 'import'", [t.tenant_id])).rowCount, 60_000, "the import's job");
        started = Date.now();
        const cpu0 = process.cpuUsage();
        rss0 = peak = process.memoryUsage().rss;
        sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
        stopImportWatch = watch();
        during = liveLoop(() => !importing);
        // While it runs, its job is there with progress (found by tenant: the id comes with the answer).
        const running = await waitFor(async () => {
          const { rows } = await db.pool.query("SELECT state, progress FROM jobs WHERE tenant_id = $1 AND kind = 'import'", [t.tenant_id]);
          return rows[0]?.progress?.accepted > 0 && rows[0];
        }, 60_000, "the import's progress");
        expect(running.state).to.equal("running");
        expect(running.progress.rows_read).to.be.at.least(running.progress.accepted);
        answer = await uploader.waitForLog((l) => l.msg === "import answered" || l.msg === "import failed", 14 * 60_000);
        cpu = process.cpuUsage(cpu0);
      } finally {
        importing = false;
        clearInterval(sampler);
        await endChild(uploader);
      }
      const seconds = (Date.now() - started) / 1000;
      const duringWatch = stopImportWatch!();
      await during;
      const loaded = live.samples;

      const mib = (b: number) => Math.round(b / 1048576);
      const report = {
        rows: ROWS,
        body_mib: mib(answer.body_bytes ?? 0),
        seconds: +seconds.toFixed(1),
        rows_per_second: Math.round(ROWS / seconds),
        quota_readings_per_second: QUOTA,
        api_process_cpu_share: +((cpu!.user + cpu!.system) / 1e6 / seconds).toFixed(2),
        rss_start_mib: mib(rss0),
        rss_peak_mib: mib(peak),
        rss_peak_delta_mib: mib(peak - rss0),
        live_unloaded: { n: unloaded.length, p50_ms: +p(unloaded, 0.5).toFixed(1), p99_ms: +p(unloaded, 0.99).toFixed(1), ...unloadedWatch },
        live_during_import: { n: loaded.length, p50_ms: +p(loaded, 0.5).toFixed(1), p99_ms: +p(loaded, 0.99).toFixed(1), failures: live.failures, ...duringWatch },
        live_p99_ratio: +(p(loaded, 0.99) / p(unloaded, 0.99)).toFixed(2),
      };
      console.log(`      import: ${JSON.stringify(report)}`);

      expect(answer.msg, JSON.stringify(answer).slice(0, 500)).to.equal("import answered");
      expect(answer.status, JSON.stringify(answer.body).slice(0, 500)).to.equal(201);
      expect(answer.body.result).to.deep.include({ rows_read: ROWS, accepted: ROWS, rejected: 0 });
      const imported = await db.pool.query("SELECT count(*)::int AS n FROM entity_values_ts WHERE tenant_id = $1 AND entity_id < 900000", [t.tenant_id]);
      expect(imported.rows[0].n).to.equal(IMPORT_COLUMNS.length * ROWS);
      // The live readings went the deployed way: the writer stored every one (2 values each).
      expect(live.failures).to.equal(0);
      await waitFor(async () => {
        const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM entity_values_ts WHERE tenant_id = $1 AND entity_id >= 900000", [t.tenant_id]);
        return rows[0].n === 2 * live.posts;
      }, 60_000, "the batch writer to store the live readings");
      expect(peak - rss0, "peak RSS over the start").to.be.below(300 * 1048576);
      expect(loaded.length).to.be.greaterThan(50);
      // Issue 13's bound, as it is written.
      expect(p(loaded, 0.99), "live p99 during the import vs unloaded").to.be.at.most(2 * p(unloaded, 0.99));
    });
  });
});
