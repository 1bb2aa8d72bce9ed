/**
 * Fault 2: the Kafka broker stopped (graceful, then SIGKILL) and started again
 * while load runs over two tenants. While it is down the API answers 503 with
 * Retry-After and never 202; clients resend what was refused; afterwards
 * every acked reading is stored exactly once and nothing else is.
 */
import { expect } from "chai";
import { useTestDatabase } from "../../helpers/db";
import { newSuffix, startApi, testConfig, waitFor, type Child, type RunningApi } from "../ingest/harness";
import { expectExactlyOnce, Load, loadTenant, NO_RATE_LIMITS, settleAndAudit } from "./load";
import { endChild, healStack, startWriterProcess } from "./stack";
import { stackPart } from "./stack-parts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("fault: Kafka broker down under load", function () {
  this.timeout(180_000);
  after(async function () {
    this.timeout(240_000);
    await healStack(); // the broker back, and the Debezium connector streaming again
  });
  const db = useTestDatabase();
  const suffix = newSuffix();
  let api: RunningApi | undefined;
  let writer: Child | undefined;

  before(async () => {
    api = await startApi({
      config: testConfig(db.url),
      pool: db.pool,
      mode: "kafka",
      suffix,
      rateLimits: NO_RATE_LIMITS,
      sendTimeoutMs: 3_000,
    });
    writer = await startWriterProcess(db.url, suffix);
  });
  after(async () => {
    await endChild(writer);
    await api?.close();
  });

  for (const action of ["stop", "kill"] as const) {
    it(`when the broker is ${action === "stop" ? "stopped" : "killed"} under load and started again, then the API answers 503 with Retry-After meanwhile and every acked reading is stored exactly once`, async () => {
      const tenants = [await loadTenant(api!.url, db.pool), await loadTenant(api!.url, db.pool)];
      const load = new Load({ url: api!.url, tenants, clients: 4, retry: true }).start();
      let down = 0;
      let up = 0;
      let firstAckAfter = 0;
      try {
        await load.untilAcked(1_000);
        const stopMs = await stackPart("kafka", action);
        down = Date.now();
        await sleep(4_000);
        up = Date.now();
        const startMs = await stackPart("kafka", "start");
        const back = Date.now();
        const ackedBefore = load.answered(202).length;
        await waitFor(async () => load.answered(202).length > ackedBefore, 60_000, "a 202 after the broker is back");
        firstAckAfter = Date.now() - back;
        console.log(`      broker ${action} took ${stopMs} ms, start ${startMs} ms, first 202 ${firstAckAfter} ms after start returned`);
        await sleep(3_000);
      } finally {
        await load.stop();
      }
      const during = { acked: load.answered(202, down, up), refused: load.answered(503, down, up), unknown: load.answered("error", down, up) };
      console.log(`      while down: ${during.refused.length} × 503, ${during.acked.length} × 202, ${during.unknown.length} unknown`);
      expect(during.acked, "202s while the broker was down").to.have.length(0);
      expect(during.refused.length, "503s while the broker was down").to.be.greaterThan(0);
      const all503 = load.answered(503);
      expect(all503.filter((a) => !(Number(a.retryAfter) > 0)), "503s without Retry-After").to.have.length(0);

      const f = await settleAndAudit(db.pool, load);
      expectExactlyOnce(f, { strict: true });
      expect(f.acked, "every reading acked in the end (clients resend refused batches)").to.equal(f.readings);
      expect(writer!.proc.exitCode, "the writer survived the outage").to.equal(null);
    });
  }
});
