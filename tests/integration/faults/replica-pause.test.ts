/**
 * Fault scenario 4: WAL replay paused on the real streaming replica, then
 * resumed, while writes keep landing on the primary and eventual reads run
 * continuously. Every answer's freshness claim is audited against the
 * acknowledged writes (read-audit.ts).
 */
import { expect } from "chai";
import { useTestDatabase } from "../../helpers/db";
import { eventually, makeTenant, QueryApi, startQueryApi, Tenant, waitForReplica, write } from "../query/harness";
import { countBy, describeRead, maxKnownLag, Readers, SeqWriter, underReported } from "./read-audit";
import { setReplicaReplay } from "./stack-parts";

const BUDGET_S = 3; // DEFAULT_MAX_LAG_SECONDS
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("fault: replica replay paused and resumed under load (real primary + replica)", function () {
  this.timeout(90_000);
  const db = useTestDatabase();
  // Nested, so the API (and its replica pool) closes before the database is dropped.
  describe("with writes every 100 ms and two eventual readers", () => {
    let api: QueryApi;
    let tenant: Tenant;
    const entities = [1, 2, 3, 4];

    before(async () => {
      tenant = await makeTenant(db.pool, { seq: ["int", true] });
      await write(db.pool, tenant, entities.map((entityId) => ({ entityId, ts: new Date(Date.now() - 60_000), values: { seq: 0 } })));
      await waitForReplica(db);
      // The production measurement period (1 s), with the stack's Redis.
      api = await startQueryApi(db, { replicaSet: { intervalMs: 1_000 } });
      await eventually(() => (api.replicaSet.snapshot()[0].lag_seconds ?? 99) < 1, 15_000, "replica measured current");
    });
    after(async () => {
      // Whatever happened, the replica replays again for the files after this one.
      await setReplicaReplay(false);
      await api?.close();
    });

    it("when replica replay is paused under load, then eventual reads move to the primary and say so, never claiming less lag than they have, and move back to the replica after resume; no request fails", async () => {
      const writer = new SeqWriter(db.pool, tenant, entities, api.redis, 100);
      const readers = new Readers(api, tenant, entities);
      writer.start();
      readers.start(2);
      let pausedAt = 0;
      let resumedAt = 0;
      let backAt = 0;
      try {
        await sleep(2_000);
        await setReplicaReplay(true);
        pausedAt = Date.now();
        // Until the primary has answered for a while: lag past the budget.
        await eventually(() => readers.reads.some((r) => r.sentAt > pausedAt + 1_000 * (BUDGET_S + 1.5) && r.source === "primary"), 20_000, "primary answers");
        await sleep(1_000);
        await setReplicaReplay(false);
        resumedAt = Date.now();
        await eventually(() => readers.reads.some((r) => r.sentAt > resumedAt && r.source === "replica-1"), 20_000, "replica answers again");
        backAt = readers.reads.find((r) => r.sentAt > resumedAt && r.source === "replica-1")!.sentAt;
        await sleep(1_500);
      } finally {
        await readers.stop();
        await writer.stop();
        await setReplicaReplay(false);
      }

      const reads = readers.reads;
      const failed = reads.filter((r) => r.status !== 200);
      expect(failed.map(describeRead), "failed requests").to.deep.equal([]);
      expect(writer.errors, "write errors").to.deep.equal([]);
      expect(reads.filter((r) => !r.metadataAgrees || r.consistency !== "eventual").map(describeRead), "headers vs _metadata").to.deep.equal([]);

      const before = reads.filter((r) => r.sentAt < pausedAt);
      const overBudget = reads.filter((r) => r.sentAt > pausedAt + 1_000 * (BUDGET_S + 0.5) && r.doneAt < resumedAt);
      const after = reads.filter((r) => r.sentAt >= backAt);
      expect(countBy(before, (r) => r.source)).to.have.property("replica-1");
      expect(overBudget.length).to.be.greaterThan(5);
      // The replica's view is older than the budget here: it must not answer, nor a copy loaded from it.
      expect(overBudget.filter((r) => r.source !== "primary" && r.source !== "cache").map(describeRead), "non-primary answers over budget").to.deep.equal([]);
      expect(overBudget.filter((r) => r.source === "primary" && (r.lag !== 0 || r.cache === "hit")).map(describeRead)).to.deep.equal([]);
      expect(countBy(after, (r) => r.source)).to.have.property("replica-1");
      for (const r of reads) {
        if (r.source === "primary") expect(r.lag, describeRead(r)).to.equal(0);
        if (r.source === "cache") expect(r.cache, describeRead(r)).to.equal("hit");
        if (r.source !== "primary") expect(r.lag!, describeRead(r)).to.be.at.most(BUDGET_S);
      }

      // The truth: no answer claims less lag than it is known to have.
      const lies = underReported(reads, writer);
      const bySource = countBy(reads, (r) => r.source);
      const maxReported = Math.max(0, ...reads.filter((r) => r.source !== "primary").map((r) => r.lag ?? 0));
      console.log(
        `      audit: ${reads.length} reads (${Object.entries(bySource).map(([k, v]) => `${v} ${k}`).join(", ")}), ${failed.length} failed, ` +
          `${writer.writes} writes; under-reported lag ${lies.length}; max reported lag ${maxReported.toFixed(3)} s vs known true lag ≥ ${maxKnownLag(reads, writer).toFixed(3)} s; ` +
          `first primary answer ${(((reads.find((r) => r.sentAt > pausedAt && r.source === "primary")?.sentAt ?? NaN) - pausedAt) / 1000).toFixed(2)} s after pause, replica again ${((backAt - resumedAt) / 1000).toFixed(2)} s after resume`,
      );
      expect(lies.slice(0, 5).map((v) => `${describeRead(v.read)}, known ≥ ${v.trueLagAtLeast} s`), `${lies.length} answers under-report their lag`).to.deep.equal([]);
    });
  });
});
