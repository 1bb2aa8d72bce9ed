/**
 * Import: one large CSV (default 1M rows, 3 values each) through POST
 * /v1/imports on the ingest API service (its own process, Kafka mode, with
 * its batch writer), while a live client posts one small live reading at a
 * time, ~50/s. The same live client first runs with nothing else loading the
 * API: the same-run baseline of the ratio.
 *
 * The body is generated and uploaded by its own process
 * (tests/integration/lifecycle/import-body.ts, the 1M-row test's uploader):
 * a million rows of text generated here would stall this process's event
 * loop and with it the live client's clock.
 *
 * Definitions (reported with the numbers):
 *  - rows_per_s = rows / (the import's job exists → its 201 answer); paced
 *    by the API's default backfill quota, as deployed.
 *  - peak_rss_mb = the API process's highest resident set size sampled
 *    (/proc/<pid>/status VmRSS, every 100 ms) during the import;
 *    rss_growth_mb = that peak − its RSS when the import started.
 *  - live latency = one POST /v1/telemetry of one reading of now (live lane),
 *    start → answer, 20 ms between posts; p99 unloaded (20 s, after a
 *    warm-up) and p99 during the import; live_p99_ratio = during / unloaded.
 */
import { spawn } from "child_process";
import path from "path";
import type { Pool } from "pg";
import { createTenant } from "../app/shared/tenants";
import { REPO, type Service } from "./services";
import { memoryOf, ResourceSampler, round, sinceMs, summarize, type ProcessGroup, type ResourceReport, type Summary } from "./stats";

const UPLOADER = path.join(REPO, "tests", "integration", "lifecycle", "import-body.ts");
const ATTRIBUTES: Array<[string, string, boolean]> = [["temperature", "decimal", true], ["pressure", "decimal", false], ["status", "string", true]];
const DAY_MS = 86_400_000;

export interface ImportOptions {
  rows: number;
  unloadedSeconds: number;
  runId: string;
  log: (s: string) => void;
}

export interface ImportResult {
  rows: number;
  seconds: number;
  rows_per_s: number;
  body_mb: number;
  rss_start_mb: number;
  peak_rss_mb: number;
  rss_growth_mb: number;
  live_unloaded: Summary;
  live_during: Summary;
  live_p99_unloaded_ms: number;
  live_p99_during_ms: number;
  live_p99_ratio: number;
  live_failures: number;
  job_result: unknown;
  resources: ResourceReport;
  definitions: Record<string, string>;
}

interface Answer {
  msg: string;
  status?: number;
  body?: { result?: Record<string, unknown> };
  body_bytes?: number;
  error?: string;
}

/** Runs the uploader as its own process; resolves with its answer line. */
function upload(url: string, apiKey: string, rows: number, baseMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", UPLOADER], {
      cwd: REPO,
      env: { ...process.env, ATLAS_IMPORT_URL: url, ATLAS_IMPORT_KEY: apiKey, ATLAS_IMPORT_ROWS: String(rows), ATLAS_IMPORT_BASE_MS: String(baseMs) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (err = (err + b.toString()).slice(-2_000)));
    child.on("error", reject);
    child.on("exit", (code) => {
      const line = out.trim().split("\n").pop() ?? "";
      try {
        resolve(JSON.parse(line) as Answer);
      } catch {
        reject(new Error(`the uploader exited with ${code} without an answer: ${line.slice(0, 300)} ${err}`));
      }
    });
  });
}

async function postJson(url: string, apiKey: string, body: unknown): Promise<number> {
  const res = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

/** One live reading at a time until `until()`; latencies in ms. */
async function liveLoop(api: Service, apiKey: string, until: () => boolean, stats: { failures: number }): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; !until(); i++) {
    const t0 = process.hrtime.bigint();
    const status = await postJson(`${api.url}/v1/telemetry`, apiKey, {
      readings: [{ entity_id: 900_000 + (i % 50), entity_type: "sensor", values: { temperature: i % 40, status: "live" } }],
    }).catch(() => 0);
    samples.push(sinceMs(t0));
    if (status !== 202) stats.failures++;
    await new Promise((r) => setTimeout(r, 20));
  }
  return samples;
}

export async function runImportStage(pool: Pool, api: Service, groups: ProcessGroup[], opts: ImportOptions): Promise<ImportResult> {
  const { log } = opts;
  const tenant = await createTenant(pool, `bench-import-${opts.runId}`, { rateLimitRps: 1_000_000 });
  for (const [name, data_type, hot] of ATTRIBUTES) {
    const status = await postJson(`${api.url}/v1/attributes`, tenant.api_key, { name, data_type, hot });
    if (status !== 201 && status !== 200) throw new Error(`import: registering ${name} answered ${status}`);
  }

  const live = { failures: 0 };
  log("import: live client warm-up, then its unloaded baseline");
  let warm = 0;
  await liveLoop(api, tenant.api_key, () => warm++ >= 50, live);
  const unloadedUntil = Date.now() + opts.unloadedSeconds * 1000;
  const unloaded = await liveLoop(api, tenant.api_key, () => Date.now() > unloadedUntil, live);

  log(`import: ${opts.rows} CSV rows through POST /v1/imports while the live client runs`);
  const answer = upload(api.url, tenant.api_key, opts.rows, Date.now() - 40 * DAY_MS);
  // Measured from the moment the import runs (its job exists), not while the uploader process starts.
  for (const deadline = Date.now() + 60_000; ; ) {
    const { rowCount } = await pool.query("SELECT 1 FROM jobs WHERE tenant_id = $1 AND kind = 'import'", [tenant.tenant_id]);
    if (rowCount) break;
    if (Date.now() > deadline) throw new Error(`import: no job within 60 s (${JSON.stringify(await Promise.race([answer, "still uploading"]))})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const t0 = process.hrtime.bigint();
  const rssStart = memoryOf(api.pid)?.rss ?? NaN;
  let peak = rssStart;
  const rssTimer = setInterval(() => (peak = Math.max(peak, memoryOf(api.pid)?.rss ?? 0)), 100);
  const sampler = new ResourceSampler(groups);
  sampler.start();
  let importing = true;
  const during = liveLoop(api, tenant.api_key, () => !importing, live);
  let result: Answer;
  try {
    result = await answer;
  } finally {
    importing = false;
    clearInterval(rssTimer);
  }
  const seconds = sinceMs(t0) / 1000;
  const resources = sampler.stop();
  const loaded = await during;
  if (result.msg !== "import answered" || result.status !== 201) {
    throw new Error(`import: answered ${result.status ?? result.error}: ${JSON.stringify(result.body ?? "").slice(0, 300)}`);
  }
  const accepted = Number(result.body?.result?.accepted);
  if (accepted !== opts.rows) log(`import: WARNING ${accepted} of ${opts.rows} rows accepted`);

  const u = summarize(unloaded);
  const d = summarize(loaded);
  const mb = (b: number) => round(b / 2 ** 20, 1);
  return {
    rows: opts.rows,
    seconds: round(seconds, 1),
    rows_per_s: Math.round(accepted / seconds),
    body_mb: mb(result.body_bytes ?? NaN),
    rss_start_mb: mb(rssStart),
    peak_rss_mb: mb(peak),
    rss_growth_mb: mb(peak - rssStart),
    live_unloaded: u,
    live_during: d,
    live_p99_unloaded_ms: u.p99_ms,
    live_p99_during_ms: d.p99_ms,
    live_p99_ratio: round(d.p99_ms / u.p99_ms, 2),
    live_failures: live.failures,
    job_result: result.body?.result,
    resources,
    definitions: {
      rows_per_s: "accepted rows / (the import's job exists → its 201 answer), paced by the API's default backfill quota",
      peak_rss_mb: "the API process's highest VmRSS sampled every 100 ms during the import; rss_growth_mb: that − its VmRSS at the import's start",
      live_latency: "one POST /v1/telemetry of one live reading, start → answer, 20 ms apart; unloaded baseline first (same run); ratio = p99 during / p99 unloaded",
    },
  };
}
