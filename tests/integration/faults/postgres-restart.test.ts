/**
 * Fault 3: the PostgreSQL primary restarted while load runs over two tenants,
 * first with a fast shutdown, then with an immediate one (a crash, with the
 * writer inside a batch). The writer (its own process) replays from Kafka
 * what it had not committed: every acked reading is stored exactly once, and
 * after the crash the UNLOGGED staging table is empty.
 */
import { expect } from "chai";
import { useTestDatabase } from "../../helpers/db";
import { newSuffix, startApi, testConfig, waitFor, type Child, type RunningApi } from "../ingest/harness";
import { expectExactlyOnce, Load, loadTenant, NO_RATE_LIMITS, settleAndAudit } from "./load";
import { endChild, healStack, startWriterProcess } from "./stack";
import { stackPart } from "./stack-parts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("fault: PostgreSQL primary restarted under load", function () {
  this.timeout(180_000);
  // Registered before useTestDatabase's hook: the primary must be up again before the test database is dropped.
  after(async function () {
    this.timeout(240_000);
    await healStack();
  });
  const db = useTestDatabase();
  const suffix = newSuffix();
  let api: RunningApi | undefined;
  let writer: Child | undefined;

  before(async () => {
    // Idle clients lose their server on the restart; the pool drops them (and must not crash mocha).
    db.pool.on("error", () => undefined);
    api = await startApi({ config: testConfig(db.url), pool: db.pool, mode: "kafka", suffix, rateLimits: NO_RATE_LIMITS });
    writer = await startWriterProcess(db.url, suffix);
  });
  after(async () => {
    await endChild(writer);
    await api?.close();
  });

  const query = (sql: string) =>
    waitFor(async () => (await db.pool.query(sql).catch(() => undefined))?.rows, 60_000, `an answer to ${sql}`);

  for (const action of ["stop", "kill"] as const) {
    const how = action === "stop" ? "fast shutdown" : "crash (immediate shutdown) inside a writer batch";
    it(`when the primary restarts under load after a ${how}, then every acked reading is stored exactly once${action === "kill" ? " and staging is empty" : ""}`, async () => {
      const tenants = [await loadTenant(api!.url, db.pool), await loadTenant(api!.url, db.pool)];
      const load = new Load({ url: api!.url, tenants, clients: 4, retry: true }).start();
      let down = 0;
      let up = 0;
      try {
        await load.untilAcked(1_000);
        if (action === "kill") {
          // Crash while the writer holds uncommitted rows in staging.
          await waitFor(
            async () =>
              (
                await db.pool.query(
                  `SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                   AND application_name = 'atlas-writer' AND backend_xid IS NOT NULL`,
                )
              ).rowCount! > 0,
            60_000,
            "the writer inside a batch",
          );
        }
        const stopMs = await stackPart("postgres", action, "primary");
        down = Date.now();
        await sleep(3_000);
        up = Date.now();
        const startMs = await stackPart("postgres", "start", "primary");
        console.log(`      primary ${action} took ${stopMs} ms, start ${startMs} ms`);
        if (action === "kill") {
          const rows = await query("SELECT count(*)::int AS n FROM entity_values_staging");
          expect(rows[0].n, "staging rows right after crash recovery").to.equal(0);
        }
        const ackedBefore = load.answered(202).length;
        await waitFor(async () => load.answered(202).length > ackedBefore, 60_000, "a 202 after the primary is back");
        await sleep(3_000);
      } finally {
        await load.stop();
      }
      const byStatus = new Map<string, number>();
      for (const a of load.attempts) if (a.startedAt >= down && a.endedAt <= up) byStatus.set(String(a.status), (byStatus.get(String(a.status)) ?? 0) + 1);
      console.log(`      answers while the primary was down: ${JSON.stringify(Object.fromEntries(byStatus))}`);
      // The API may still take batches (Kafka is up) or refuse them; never a 500.
      for (const status of byStatus.keys()) expect(["202", "503"], `an answer while the primary was down`).to.include(status);

      expect(writer!.proc.exitCode ?? writer!.proc.signalCode, "the writer process survived the restart").to.equal(null);
      const f = await settleAndAudit(db.pool, load);
      expectExactlyOnce(f, { strict: true });
      expect(f.acked, "every reading acked in the end (clients resend what was refused)").to.equal(f.readings);
      const rows = await query("SELECT count(*)::int AS n FROM entity_values_staging");
      expect(rows[0].n, "rows left in staging").to.equal(0);
    });
  }
});
