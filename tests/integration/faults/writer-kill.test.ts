/**
 * Fault 1: the batch writer (its own process) SIGKILLed in the middle of a
 * batch while load runs over two tenants, then restarted: every acked reading
 * is stored exactly once (exact audit per tenant: count, key, values, sums).
 */
import { expect } from "chai";
import { useTestDatabase } from "../../helpers/db";
import { newSuffix, startApi, testConfig, type Child, type RunningApi } from "../ingest/harness";
import { expectExactlyOnce, Load, loadTenant, NO_RATE_LIMITS, settleAndAudit } from "./load";
import { endChild, healStack, startWriterProcess } from "./stack";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("fault: batch writer SIGKILLed under load", function () {
  this.timeout(180_000);
  after(async function () {
    this.timeout(240_000);
    await healStack(); // nothing of the stack is stopped here; checked all the same
  });
  const db = useTestDatabase();
  const suffix = newSuffix();
  let api: RunningApi | undefined;
  let writer: Child | undefined;

  before(async () => {
    api = await startApi({ config: testConfig(db.url), pool: db.pool, mode: "kafka", suffix, rateLimits: NO_RATE_LIMITS });
  });
  after(async () => {
    await endChild(writer, "SIGKILL");
    await api?.close();
  });

  it("when the writer is SIGKILLed mid-batch under load and restarted, then every acked reading is stored exactly once", async () => {
    const tenants = [await loadTenant(api!.url, db.pool), await loadTenant(api!.url, db.pool)];
    writer = await startWriterProcess(db.url, suffix);
    const load = new Load({ url: api!.url, tenants, clients: 4 }).start();
    try {
      await load.untilAcked(2_000);
      // Kill it while one of its transactions holds uncommitted writes (COPY into staging or the flush).
      const deadline = Date.now() + 60_000;
      let inBatch: string | undefined;
      while (!inBatch && Date.now() < deadline) {
        const { rows } = await db.pool.query(
          `SELECT left(query, 40) AS q FROM pg_stat_activity
           WHERE datname = current_database() AND application_name = 'atlas-writer' AND backend_xid IS NOT NULL`,
        );
        if (rows.length > 0) inBatch = rows[0].q;
        else await sleep(10);
      }
      expect(inBatch, "the writer seen inside a batch").to.be.a("string");
      const killed = writer;
      killed.proc.kill("SIGKILL");
      await killed.exited;
      expect(killed.proc.signalCode).to.equal("SIGKILL");
      const { rows: atKill } = await db.pool.query("SELECT count(*)::int AS n FROM entity_values_ts");
      console.log(`      killed during "${inBatch}…" with ${atKill[0].n} values stored, ${load.acked(0) + load.acked(1)} readings acked`);

      await sleep(2_000); // load goes on into Kafka with no writer
      writer = await startWriterProcess(db.url, suffix);
      await sleep(4_000);
    } finally {
      await load.stop();
    }
    const f = await settleAndAudit(db.pool, load);
    expectExactlyOnce(f, { strict: true });
    // Kafka stayed up: the API acked everything.
    expect(f.acked).to.equal(f.readings);
    const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM entity_values_staging");
    expect(rows[0].n, "rows left in staging").to.equal(0);
    await endChild(writer, "SIGTERM");
    expect(writer!.proc.exitCode, "graceful stop after recovery").to.equal(0);
  });
});
