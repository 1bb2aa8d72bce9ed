/**
 * `npm run bench`: the benchmark harness (issue 8). Seeds its own database
 * on the local stack, measures ingest, query, a bulk import (issue 13) and
 * CDC against their baselines in the same run, prints a table and writes
 * bench/results/latest.json.
 *
 *   npm run bench                                   # defaults: about five minutes on 2 cores
 *   npm run bench -- --entities 2000 --duration 10  # a smoke run
 *   npm run bench -- --scale                        # 1M entities (long); the query keys under scale.query
 *   npm run bench -- --scale --only query           # 1M entities, query stage only (about 25 min on 2 cores)
 *   npm run bench -- --only ingest,query --keep     # some stages; keep the database
 *   npm run bench -- --only import                  # the 1M-row import alone (~2.5 min)
 *
 * Flags: --entities N (over all tenants), --attributes N (kinds per tenant),
 * --hot-fraction F, --tenants N, --duration S (seconds of ingest load; query
 * phases take S/4 each, CDC S/2), --concurrency N (query clients),
 * --ingest-concurrency N (concurrent POSTs), --readings-per-post N,
 * --values-per-reading N, --wide-values-per-reading N (the wide shape, default
 * 20), --sustain-seconds S (hold of each sustained-rate attempt, default 180),
 * --cdc-rate N and --cdc-seconds S (CDC freshness: offered values/s and hold,
 * default 10000 for 120 s), --cdc-throughput-rate N (CDC throughput phase,
 * default 40000 values/s for half the hold), --import-rows N (the import
 * stage's CSV rows, default 1000000), --scale, --only LIST, --keep, --profile (V8 CPU
 * profiles of the API and writer), --ts-node (run services under ts-node
 * instead of the transpiled build), --seed N. ATLAS_STACK_ENV=<stack.env>:
 * use the stack another checkout runs on this machine, as it is (bench/db.ts).
 */
import { execFileSync } from "child_process";
import os from "os";
import path from "path";
import { benchStageFlush } from "../db/bench-flush";
import { configureLog } from "../app/shared/log";
import { runCdc, deleteTopicsAndGroups, type CdcResult } from "./cdc";
import { createBenchDatabase, createBenchTenant, ensureStack, seedDayOfPoints, seedEntities, type BenchDatabase, type BenchTenant } from "./db";
import { Workload } from "./generate";
import { runImportStage, type ImportResult } from "./import";
import { runIngest, runSustained, topStatements, type IngestResult, type SustainedResult } from "./ingest";
import { summarizeProfile, type ProfileSummary } from "./profile";
import { startIngestLoad } from "./ingest-load";
import { createEavIndex, runQuery, type QueryResult } from "./query";
import { queryRows, querySection } from "./query-report";
import { carryOver, table, targetsOf, writeResults, type Row } from "./report";
import { buildServices, REPO, startService, type Service } from "./services";
import { descendantsOf, pidFromFile, pidsByCommand, round, type ProcessGroup } from "./stats";

const STAGES = ["ingest", "query", "import", "cdc"] as const;
type Stage = (typeof STAGES)[number];

interface Flags {
  entities: number;
  attributes: number;
  hotFraction: number;
  tenants: number;
  duration: number;
  concurrency: number;
  ingestConcurrency: number;
  readingsPerPost: number;
  valuesPerReading: number;
  scale: boolean;
  only: Stage[];
  keep: boolean;
  profile: boolean;
  tsNode: boolean;
  seed: number;
  wideValuesPerReading: number;
  sustainSeconds: number;
  cdcRate: number;
  cdcSeconds: number;
  cdcThroughputRate: number;
  importRows: number;
}

function parseFlags(argv: string[]): Flags {
  const raw = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const [k, inline] = a.slice(2).split("=", 2);
    if (inline !== undefined) raw.set(k, inline);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) raw.set(k, argv[++i]);
    else raw.set(k, "true");
  }
  const known = ["entities", "attributes", "hot-fraction", "tenants", "duration", "concurrency", "ingest-concurrency", "readings-per-post", "values-per-reading", "scale", "only", "keep", "profile", "ts-node", "seed", "wide-values-per-reading", "sustain-seconds", "cdc-rate", "cdc-seconds", "cdc-throughput-rate", "import-rows"];
  for (const k of raw.keys()) if (!known.includes(k)) throw new Error(`unknown flag --${k} (known: ${known.map((x) => `--${x}`).join(" ")})`);
  const scale = raw.get("scale") === "true";
  const num = (k: string, d: number) => {
    const v = raw.has(k) ? Number(raw.get(k)) : d;
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${k} must be a positive number, got ${raw.get(k)}`);
    return v;
  };
  const only = (raw.get("only") ?? STAGES.join(",")).split(",").map((s) => s.trim()) as Stage[];
  for (const s of only) if (!STAGES.includes(s)) throw new Error(`--only takes ${STAGES.join(",")}; got ${s}`);
  const hot = num("hot-fraction", 0.2);
  if (hot > 1) throw new Error("--hot-fraction must be at most 1");
  return {
    entities: Math.floor(num("entities", scale ? 1_000_000 : 100_000)),
    attributes: Math.floor(num("attributes", 10_000)),
    hotFraction: hot,
    tenants: Math.floor(num("tenants", 4)),
    duration: num("duration", scale ? 120 : 60),
    concurrency: Math.floor(num("concurrency", 16)),
    ingestConcurrency: Math.floor(num("ingest-concurrency", 8)),
    readingsPerPost: Math.floor(num("readings-per-post", 500)),
    valuesPerReading: Math.floor(num("values-per-reading", 10)),
    scale,
    only,
    keep: raw.get("keep") === "true",
    profile: raw.get("profile") === "true",
    tsNode: raw.get("ts-node") === "true",
    seed: Math.floor(num("seed", 20261125)),
    wideValuesPerReading: Math.floor(num("wide-values-per-reading", 20)),
    sustainSeconds: num("sustain-seconds", 180),
    cdcRate: num("cdc-rate", 10_000),
    cdcSeconds: num("cdc-seconds", 120),
    cdcThroughputRate: num("cdc-throughput-rate", 40_000),
    importRows: Math.floor(num("import-rows", 1_000_000)),
  };
}

const t0 = Date.now();
const log = (s: string) => process.stderr.write(`[bench +${String(Math.round((Date.now() - t0) / 1000)).padStart(4)}s] ${s}\n`);

function git(args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: REPO, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unknown";
  }
}

/** The stack's directory of pid files (that of the running stack when ATLAS_STACK_ENV names another checkout's). */
let stackDir = path.join(REPO, ".atlas");

/** The processes whose CPU and memory each stage samples. */
function stackGroups(): ProcessGroup[] {
  const atlas = stackDir;
  const tree = (pidFile: string) => () => {
    const root = pidFromFile(pidFile);
    return root ? [root, ...descendantsOf(root)] : [];
  };
  const one = (pidFile: string, needle: string) => () => {
    const p = pidFromFile(pidFile);
    return p && pidsByCommand(needle).includes(p) ? [p] : pidsByCommand(needle);
  };
  return [
    { name: "postgres_primary", pids: tree(path.join(atlas, "pg", "primary", "postmaster.pid")) },
    { name: "postgres_replica", pids: tree(path.join(atlas, "pg", "replica", "postmaster.pid")) },
    { name: "kafka", pids: one(path.join(atlas, "run", "kafka.pid"), "kafka.Kafka") },
    { name: "kafka_connect", pids: one(path.join(atlas, "run", "connect.pid"), "ConnectDistributed") },
    { name: "redis", pids: one(path.join(atlas, "run", "redis.pid"), `redis-server 127.0.0.1:${56379 + Number(process.env.ATLAS_STACK_PORT_OFFSET ?? 0)}`) },
    { name: "bench_client", pids: () => [process.pid] },
  ];
}

const serviceGroup = (name: string, s: Service): ProcessGroup => ({ name, pids: () => [s.pid] });

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  configureLog({ level: "error" }); // the services' modules we load in-process (storage step, tenants) stay quiet
  const runId = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  log(`${command} (run ${runId}; machine: ${os.cpus().length} cores, ${round(os.totalmem() / 2 ** 30, 1)} GiB; load ${os.loadavg().map((x) => x.toFixed(2)).join(" ")})`);

  const stack = ensureStack(log);
  if (stack.ATLAS_STACK_DIR) stackDir = stack.ATLAS_STACK_DIR;
  if (!flags.tsNode) log(`built the services: ${buildServices()}`);
  const w = new Workload({
    seed: flags.seed,
    tenants: flags.tenants,
    entities: flags.entities,
    attributes: flags.attributes,
    hotFraction: flags.hotFraction,
    valuesPerReading: flags.valuesPerReading,
    readingsPerPost: flags.readingsPerPost,
  });
  const sizes = {
    tenants: flags.tenants,
    entities: w.totalEntities,
    entities_per_tenant: w.entitiesPerTenant,
    attribute_kinds_per_tenant: w.catalog.length,
    hot_attribute_kinds_per_tenant: w.catalog.filter((a) => a.hot).length,
    entity_types_per_tenant: w.types,
    readings_per_post: flags.readingsPerPost,
    values_per_reading: flags.valuesPerReading,
    ingest_seconds: flags.duration,
    ingest_concurrency: flags.ingestConcurrency,
    query_concurrency: flags.concurrency,
    query_phase_seconds: Math.max(5, Math.round(flags.duration / 4)),
    cdc_freshness_seconds: flags.cdcSeconds,
    import_rows: flags.importRows,
  } as Record<string, number>;

  // The import stage needs the bench database but not its seed (it makes its own tenant).
  const needSeed = flags.only.includes("ingest") || flags.only.includes("query");
  const needDb = needSeed || flags.only.includes("import");
  const suffix = `.bench-${runId}`;
  let db: BenchDatabase | undefined;
  const services: Service[] = [];
  let ingest: IngestResult | undefined;
  let ingestWide: IngestResult | undefined;
  let sustained: SustainedResult | undefined;
  let query: QueryResult | undefined;
  let cdc: CdcResult | undefined;
  let imported: ImportResult | undefined;
  let storageStep: unknown;
  let statements: unknown;
  const profiles: ProfileSummary[] = [];
  const profileDir = path.join(REPO, "bench", "results", "profiles", runId);
  const startedAt = new Date().toISOString();
  let failure: Error | undefined;

  try {
    if (needDb) {
      db = await createBenchDatabase(stack, `atlas_bench_${runId}`);
      log(`database ${db.name} created and migrated`);
      // Device times: the seed first, then each ingest phase after the one
      // before it (a phase older than the seed would be late data and skip
      // the latest-value work). Readings are 1 ms apart: 6 h is room enough.
      const now = Date.now();
      const ingestBase = now - 350 * 60_000;
      const dayStart = Math.floor(now / 86_400_000) * 86_400_000 - 2 * 86_400_000;
      const tsEntities = Math.min(100, w.entitiesPerTenant);
      const tenants: BenchTenant[] = [];
      if (needSeed) {
        for (let i = 0; i < flags.tenants; i++) tenants.push(await createBenchTenant(db.pool, w, i, `bench-${runId}-${i}`));
        log(`${tenants.length} tenants × ${w.catalog.length} attribute kinds (${sizes.hot_attribute_kinds_per_tenant} hot)`);
        let lastLog = 0;
        const seeded = await seedEntities(db.pool, w, tenants, now - 360 * 60_000, (done) => {
          if (Date.now() - lastLog > 10_000) {
            lastLog = Date.now();
            log(`seeding entities: ${done} of ${w.totalEntities}`);
          }
        });
        sizes.seeded_values = seeded.values;
        log(`seeded ${w.totalEntities} entities (${seeded.values} values through COPY + stage_flush) in ${round(seeded.seconds, 1)} s`);
        sizes.timeseries_points_seeded = await seedDayOfPoints(db.pool, tenants, tsEntities, dayStart, 1 /* battery */);
        await db.pool.query("VACUUM ANALYZE");
        log(`seeded a day of 1-minute points for ${tsEntities} entities per tenant`);
      }

      const common = { DATABASE_URL: db.url, KAFKA_BROKERS: stack.KAFKA_BROKERS, ATLAS_TOPIC_SUFFIX: suffix, TENANT_RATE_LIMIT_RPS: "1000000" };
      if (flags.only.includes("ingest")) {
        const prof = flags.profile ? profileDir : undefined;
        const writer = await startService("writer", { entry: "app/ingest/writer-main.ts", env: { ...common, REDIS_URL: stack.REDIS_URL }, tsNode: flags.tsNode, cpuProfDir: prof });
        services.push(writer);
        const api = await startService("api", { entry: "app/ingest/main.ts", env: common, tsNode: flags.tsNode, cpuProfDir: prof });
        services.push(api);
        await Promise.all([writer.waitReady(), api.waitReady()]);
        ingest = await runIngest(db.pool, w, tenants, api, writer, [serviceGroup("api", api), serviceGroup("writer", writer), ...stackGroups()], {
          durationSeconds: flags.duration,
          concurrency: flags.ingestConcurrency,
          baseMs: ingestBase,
          copyMaxValues: 3_000_000,
          naiveSeconds: Math.max(5, Math.round(flags.duration / 6)),
          log,
        });
        statements = await topStatements(db.pool);
        let clock = ingestBase + ingest.posts * w.opts.readingsPerPost + 60_000;

        const wide = new Workload({ ...w.opts, valuesPerReading: flags.wideValuesPerReading });
        log(`ingest: the wide shape, ${flags.wideValuesPerReading} values per reading`);
        ingestWide = await runIngest(db.pool, wide, tenants, api, writer, [serviceGroup("api", api), serviceGroup("writer", writer), ...stackGroups()], {
          durationSeconds: Math.max(10, Math.round(flags.duration / 2)),
          concurrency: flags.ingestConcurrency,
          baseMs: clock,
          copyMaxValues: 3_000_000,
          naiveSeconds: 0,
          log,
        });
        clock += ingestWide.posts * wide.opts.readingsPerPost + 60_000;

        // Rates to try, highest first: from 80 % of the burst's committed rate down.
        const burst = Math.max(ingest.values_per_sec, ingest.steady_committed_values_per_sec || 0);
        const first = Math.max(5_000, Math.floor((0.8 * burst) / 5_000) * 5_000);
        const rates = [first, Math.floor((first * 0.8) / 5_000) * 5_000, Math.floor((first * 0.6) / 5_000) * 5_000].filter((r, i, a) => r > 0 && a.indexOf(r) === i);
        sustained = await runSustained(db.pool, w, tenants, api, writer, { rates, seconds: flags.sustainSeconds, baseMs: clock, maxP99CommitMs: 2_000, log });
        await Promise.all([api.stop(), writer.stop()]);
        if (flags.profile) {
          for (const name of ["writer", "api"]) {
            try {
              profiles.push(summarizeProfile(path.join(profileDir, `${name}.cpuprofile`)));
            } catch (err) {
              log(`no CPU profile of ${name}: ${(err as Error).message}`);
            }
          }
        }
        log("ingest: the storage step alone (db/bench-flush: COPY into staging + stage_flush, 20k entities × 10 values)");
        storageStep = await benchStageFlush(db.pool, { entities: 20_000, valuesPerEntity: 10 });
      }

      if (flags.only.includes("query")) {
        log("query: building the EAV baseline's index");
        sizes.eav_index_build_seconds = round(await createEavIndex(db.pool), 1);
        const q = await startService("query", {
          entry: "app/query/main.ts",
          env: { DATABASE_URL: db.url, DATABASE_REPLICA_URLS: db.replicaUrl, REDIS_URL: stack.REDIS_URL, TENANT_RATE_LIMIT_RPS: "1000000" },
          tsNode: flags.tsNode,
        });
        services.push(q);
        await q.waitReady();
        await new Promise((r) => setTimeout(r, 2_000)); // a couple of replica lag measurements
        query = await runQuery(db.pool, w, tenants, q, [serviceGroup("query_api", q), ...stackGroups()], {
          concurrency: flags.concurrency,
          phaseSeconds: sizes.query_phase_seconds,
          tsEntities,
          tsDayStartMs: dayStart,
          redisUrl: stack.REDIS_URL,
          startIngest: async () => {
            const load = await startIngestLoad(w, tenants, {
              valuesPerSec: 10_000,
              baseMs: Date.now(), // after the seed's and any ingest stage's device times
              env: { DATABASE_URL: db!.url, KAFKA_BROKERS: stack.KAFKA_BROKERS, ATLAS_TOPIC_SUFFIX: suffix, TENANT_RATE_LIMIT_RPS: "1000000" },
              redisUrl: stack.REDIS_URL,
              tsNode: flags.tsNode,
              maxSeconds: 3_600,
            });
            services.push(...load.services);
            return load;
          },
          log,
        });
        await q.stop();
      }

      if (flags.only.includes("import")) {
        // Its own API and writer, as deployed (npm start gives the API Redis: imports invalidate what they store).
        const writer = await startService("import-writer", { entry: "app/ingest/writer-main.ts", env: { ...common, REDIS_URL: stack.REDIS_URL }, tsNode: flags.tsNode });
        services.push(writer);
        const api = await startService("import-api", { entry: "app/ingest/main.ts", env: { ...common, REDIS_URL: stack.REDIS_URL }, tsNode: flags.tsNode });
        services.push(api);
        await Promise.all([writer.waitReady(), api.waitReady()]);
        imported = await runImportStage(db.pool, api, [serviceGroup("api", api), serviceGroup("writer", writer), ...stackGroups()], {
          rows: flags.importRows,
          unloadedSeconds: 20,
          runId,
          log,
        });
        await Promise.all([api.stop(), writer.stop()]);
      }
      const { rows } = await db.pool.query<{ rows: string; bytes: string }>(
        "SELECT (SELECT count(*) FROM entity_values_ts) AS rows, pg_database_size(current_database()) AS bytes",
      );
      sizes.history_rows_at_end = Number(rows[0].rows);
      sizes.database_mb_at_end = Math.round(Number(rows[0].bytes) / 2 ** 20);
    }

    if (flags.only.includes("cdc")) {
      cdc = await runCdc(stack, {
        runId,
        // The seeds' design load, held for two minutes, then three times it plus a margin.
        freshnessRate: flags.cdcRate,
        freshnessSeconds: flags.cdcSeconds,
        throughputRate: flags.cdcThroughputRate,
        throughputSeconds: Math.max(10, Math.round(flags.cdcSeconds / 2)),
        seed: flags.seed,
        tsNode: flags.tsNode,
        keep: flags.keep,
        groups: (api, writer) => [serviceGroup("api", api), serviceGroup("writer", writer), ...stackGroups()],
        log,
      });
      if (!cdc.measured) log(`cdc: not measured: ${cdc.reason}`);
    }
  } catch (err) {
    failure = err as Error;
    log(`FAILED: ${failure.stack ?? failure.message}`);
    for (const s of services) log(`${s.name} last lines:\n${s.tail().slice(-8).join("\n")}`);
  } finally {
    for (const s of services) await s.stop().catch(() => undefined);
    await deleteTopicsAndGroups(stack.KAFKA_BROKERS, suffix, [`atlas-batch-writer${suffix}`]).catch((err) => log(`topic cleanup failed: ${(err as Error).message}`));
    if (db) {
      if (flags.keep) log(`kept database ${db.name} (${db.url})`);
      else await db.drop().catch((err) => log(`dropping ${db!.name} failed: ${(err as Error).message}`));
    }
  }

  const rows: Row[] = [
    { metric: "ingest.values_per_sec", value: ingest?.values_per_sec, unit: "values/s", target: ">= 100000" },
    { metric: "ingest.fraction_of_copy_ceiling", value: ingest?.fraction_of_copy_ceiling, target: ">= 0.5" },
    { metric: "ingest.copy_ceiling_values_per_sec", value: ingest?.copy_ceiling.values_per_sec, unit: "values/s" },
    { metric: "ingest.multiple_of_naive", value: ingest?.multiple_of_naive, unit: "×", target: ">= 20" },
    { metric: "ingest.naive_values_per_sec", value: ingest?.naive.values_per_sec, unit: "values/s" },
    { metric: "ingest.wide.values_per_sec", value: ingestWide?.values_per_sec, unit: "values/s" },
    { metric: "ingest.wide.fraction_of_copy_ceiling", value: ingestWide?.fraction_of_copy_ceiling },
    { metric: "ingest.sustained.values_per_sec", value: sustained?.values_per_sec, unit: "values/s", target: ">= 50000" },
    { metric: "ingest.sustained.p99_commit_ms", value: sustained?.p99_commit_ms, unit: "ms", target: "<= 2000" },
    { metric: "ingest.wal_bytes_per_value", value: ingest?.wal_bytes_per_value, unit: "B" },
    { metric: "ingest.p50_commit_ms", value: ingest?.p50_commit_ms, unit: "ms" },
    { metric: "ingest.p99_commit_ms", value: ingest?.p99_commit_ms, unit: "ms" },
    { metric: "ingest.writer_peak_rss_mb", value: ingest?.writer_peak_rss_mb, unit: "MB", target: "<= 512" },
    { metric: "ingest.api_peak_rss_mb", value: ingest?.api_peak_rss_mb, unit: "MB", target: "<= 256" },
    ...queryRows(query, flags.scale ? "scale.query" : "query"),
    { metric: "import.rows_per_s", value: imported?.rows_per_s, unit: "rows/s" },
    { metric: "import.peak_rss_mb", value: imported?.peak_rss_mb, unit: "MB" },
    { metric: "import.rss_growth_mb", value: imported?.rss_growth_mb, unit: "MB", target: "<= 300" },
    { metric: "import.live_p99_unloaded_ms", value: imported?.live_p99_unloaded_ms, unit: "ms" },
    { metric: "import.live_p99_during_ms", value: imported?.live_p99_during_ms, unit: "ms" },
    { metric: "import.live_p99_ratio", value: imported?.live_p99_ratio, unit: "×", target: "<= 2" },
    { metric: "cdc.freshness_p50_s", value: cdc?.measured ? cdc.freshness_p50_s : null, unit: "s" },
    { metric: "cdc.freshness_p95_s", value: cdc?.measured ? cdc.freshness_p95_s : null, unit: "s", target: "<= 5" },
    { metric: "cdc.sustained_values_per_sec", value: cdc?.measured ? cdc.sustained_values_per_sec : null, unit: "values/s", target: ">= 30000" },
  ];

  const doc = {
    generated_at: new Date().toISOString(),
    started_at: startedAt,
    command,
    git_commit: git(["rev-parse", "HEAD"]),
    git_dirty_paths: git(["status", "--porcelain", "app", "db", "bench"]).split("\n").filter(Boolean).length,
    node: process.version,
    machine: { cores: os.cpus().length, cpu_model: os.cpus()[0]?.model, memory_gb: round(os.totalmem() / 2 ** 30, 1), load_average_at_end: os.loadavg().map((x) => round(x, 2)) },
    services_run_as: flags.tsNode ? "ts-node (transpile-only)" : "node on JavaScript transpiled into bench/.build",
    sizes,
    stages: flags.only,
    failure: failure ? failure.message : undefined,
    ingest: ingest
      ? { ...ingest, wide: ingestWide, sustained, storage_step_alone: storageStep, top_statements: statements, definitions: {
          values_per_sec: "values accepted (HTTP 202) / (first POST → the writer's committed-values counter reaches them); checked with count(*) on history",
          commit_latency: "per POST one random reading: POST start → first 50 ms poll that finds it in entity_values_ts",
          copy_ceiling: "one COPY (as the owner) of the same generated rows, under other tenant ids, straight into entity_values_ts: history only, no projection",
          naive: "one autocommitted INSERT ... ON CONFLICT DO NOTHING per value into entity_values_ts, same concurrency as the POSTs; history only; rate over its duration",
        } }
      : { measured: false, reason: flags.only.includes("ingest") ? failure?.message ?? "failed" : "not selected (--only)" },
    [flags.scale ? "scale" : "query"]: query
      ? flags.scale
        ? { query: querySection(query) }
        : querySection(query)
      : { measured: false, reason: flags.only.includes("query") ? failure?.message ?? "failed" : "not selected (--only)" },
    import: imported ?? { measured: false, reason: flags.only.includes("import") ? failure?.message ?? "failed" : "not selected (--only)" },
    cdc: cdc
      ? cdc.measured
        ? cdc
        : { ...cdc, freshness_p50_s: null, freshness_p95_s: null }
      : { measured: false, reason: flags.only.includes("cdc") ? failure?.message ?? "failed" : "not selected (--only)", freshness_p95_s: null },
    profile: profiles.length > 0 ? profiles : undefined,
    targets: targetsOf(rows),
  };
  const file = writeResults(carryOver(doc, ["query", "scale"]));
  process.stdout.write(`\n${table(rows)}\n\n`);
  if (ingest) {
    const g = ingest.resources.groups;
    const cores = Object.entries(g).map(([k, v]) => `${k} ${v.cores_used}`).join(", ");
    process.stdout.write(`ingest CPU (cores used on average): ${cores}; whole machine ${ingest.resources.machine_cores_busy}\n`);
  }
  if (cdc && !cdc.measured) process.stdout.write(`cdc not measured: ${cdc.reason}\n`);
  process.stdout.write(`results: ${file}\n`);
  if (failure) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
