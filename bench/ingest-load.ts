/**
 * Ingest as background load for the read benches: the ingest API and the
 * batch writer (Kafka mode, as deployed) started as their own processes, and
 * an open-loop offer of `valuesPerSec` (the seeds' design load is 10,000
 * values/s) until stop(). The writer invalidates the cache and bumps search
 * generations as in production, so reads compete with real writes.
 */
import type { BenchTenant } from "./db";
import { postBody, type Workload } from "./generate";
import { postTelemetry } from "./ingest";
import { offerLoad } from "./offered-load";
import { startService, type Service } from "./services";

export interface IngestLoadOptions {
  valuesPerSec: number;
  /** Device time of the first post (after the seed's). */
  baseMs: number;
  /** Environment shared by the ingest API and writer (database, brokers, topic suffix). */
  env: Record<string, string>;
  redisUrl: string;
  tsNode: boolean;
  /** Upper bound of the load's duration, s (stop() usually ends it earlier). */
  maxSeconds: number;
}

export interface IngestLoadReport {
  offered_values_per_sec: number;
  accepted_values: number;
  refused_posts: number;
  late_posts: number;
  seconds: number;
}

export interface IngestLoad {
  services: Service[];
  stop(): Promise<IngestLoadReport>;
}

export async function startIngestLoad(w: Workload, tenants: BenchTenant[], opts: IngestLoadOptions): Promise<IngestLoad> {
  const writer = await startService("writer", { entry: "app/ingest/writer-main.ts", env: { ...opts.env, REDIS_URL: opts.redisUrl }, tsNode: opts.tsNode });
  const api = await startService("api", { entry: "app/ingest/main.ts", env: opts.env, tsNode: opts.tsNode });
  await Promise.all([writer.waitReady(), api.waitReady()]);
  const valuesPerPost = w.opts.readingsPerPost * w.opts.valuesPerReading;
  let stopped = false;
  let refused = 0;
  const load = offerLoad({
    postsPerSecond: opts.valuesPerSec / valuesPerPost,
    seconds: opts.maxSeconds,
    maxInFlight: 16,
    stopped: () => stopped,
    send: async (i) => {
      const p = w.post(i, opts.baseMs);
      const r = await postTelemetry(api, postBody(w, p.readings), tenants[p.tenant].apiKey).catch(() => ({ status: 0 }));
      if (r.status !== 202) {
        refused++;
        return 0;
      }
      return p.readings.reduce((k, x) => k + x.values.length, 0);
    },
  });
  return {
    services: [writer, api],
    async stop() {
      stopped = true;
      const r = await load;
      await Promise.all([api.stop(), writer.stop()]);
      return { offered_values_per_sec: opts.valuesPerSec, accepted_values: r.accepted_values, refused_posts: refused, late_posts: r.late_posts, seconds: r.seconds };
    },
  };
}
