/**
 * The outbox under a crash (Kafka mode, the batch writer its own process, as
 * deployed): SIGKILLed while one of its flush transactions is open, then
 * restarted. Every committed change reaches the receiver at least once, and
 * nothing that did not commit does. Each entity's `seq` only grows, so its
 * events form a chain (each event's old value is the previous event's new
 * one) that a lost batch would break, ending at the committed latest value.
 */
import { expect } from "chai";
import { useTestDatabase } from "../../helpers/db";
import { newSuffix, startApi, type Child, type RunningApi } from "../ingest/harness";
import { endChild, startWriterProcess } from "../faults/stack";
import { Receiver, startPlatform, subscribe, webhookConfig, webhookTenant, type Platform } from "./harness";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ENTITIES = 20;

describe("webhooks: the batch writer SIGKILLed mid-batch", function () {
  this.timeout(240_000);
  const db = useTestDatabase();
  const suffix = newSuffix();
  let p: Platform | undefined;
  let api: RunningApi | undefined;
  let writer: Child | undefined;
  const rx = new Receiver();

  before(async () => {
    await rx.start();
    const config = webhookConfig(db.url);
    p = await startPlatform(db.pool, config);
    api = await startApi({ config, pool: db.pool, mode: "kafka", suffix });
  });
  after(async () => {
    await endChild(writer, "SIGKILL");
    await api?.close();
    await p?.close();
    await rx.close();
  });

  it("when the writer is killed inside a flush and restarted, then every committed change is delivered at least once and nothing uncommitted is", async () => {
    const t = await webhookTenant(p!, db.pool);
    await subscribe(p!, t.api_key, rx.url);
    writer = await startWriterProcess(db.url, suffix);

    const seq = new Array<number>(ENTITIES + 1).fill(0);
    const base = Date.parse("2026-12-01T00:00:00Z");
    let running = true;
    let acked = 0;
    const client = async (c: number) => {
      while (running) {
        const readings = [];
        for (let i = 0; i < 20; i++) {
          const e = 1 + ((c * 20 + i) % ENTITIES);
          const n = ++seq[e];
          readings.push({ entity_id: e, entity_type: "meter", ts: new Date(base + n * 1000).toISOString(), values: { seq: n } });
        }
        const res = await fetch(`${api!.url}/v1/telemetry`, {
          method: "POST",
          headers: { authorization: `Bearer ${t.api_key}`, "content-type": "application/json" },
          body: JSON.stringify({ readings }),
        });
        if (res.status === 202) acked += readings.length;
        await res.arrayBuffer();
      }
    };
    const load = Promise.all([0, 1, 2].map(client));
    try {
      await sleep(1_500);
      const deadline = Date.now() + 60_000;
      let inBatch = false;
      while (!inBatch && Date.now() < deadline) {
        const { rows } = await db.pool.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'atlas-writer' AND backend_xid IS NOT NULL`,
        );
        inBatch = rows.length > 0;
        if (!inBatch) await sleep(5);
      }
      expect(inBatch, "the writer seen inside a flush transaction").to.equal(true);
      writer.proc.kill("SIGKILL");
      await writer.exited;
      expect(writer.proc.signalCode).to.equal("SIGKILL");
      await sleep(1_500);
      writer = await startWriterProcess(db.url, suffix);
      await sleep(2_000);
    } finally {
      running = false;
      await load;
    }

    // Drain: the writer stores everything acked, the worker delivers every pending event.
    const settled = Date.now() + 120_000;
    for (;;) {
      const { rows } = await db.pool.query(
        `SELECT (SELECT count(*)::int FROM entity_values_ts WHERE tenant_id = $1) AS stored,
                (SELECT count(*)::int FROM webhook_deliveries WHERE tenant_id = $1 AND state <> 'succeeded') AS open`,
        [t.tenant_id],
      );
      if (rows[0].stored >= acked && rows[0].open === 0) break;
      if (Date.now() > settled) throw new Error(`not settled: ${JSON.stringify(rows[0])} of ${acked} acked`);
      await sleep(200);
    }
    await sleep(500);

    const committed = await db.pool.query<{ entity_id: string; value_int: string }>(
      "SELECT entity_id, value_int FROM entity_values_ts WHERE tenant_id = $1",
      [t.tenant_id],
    );
    const stored = new Set(committed.rows.map((r) => `${r.entity_id}:${r.value_int}`));
    const latest = await db.pool.query<{ entity_id: string; value_int: string }>(
      "SELECT entity_id, value_int FROM entity_latest WHERE tenant_id = $1",
      [t.tenant_id],
    );

    // At least once: duplicates (a lease that expired) are allowed; the receiver dedupes by webhook-id.
    const seen = new Set<string>();
    const chains = new Map<number, Array<{ old: number | null; new: number }>>();
    for (const r of rx.received) {
      const id = String(r.headers["webhook-id"]);
      if (seen.has(id)) continue;
      seen.add(id);
      const e = r.json.data.entity_id as number;
      const change = r.json.data.changes.seq;
      // Nothing uncommitted: every value an event announces is in the committed history.
      expect(stored.has(`${e}:${change.new}`), `event for entity ${e} seq ${change.new} is committed`).to.equal(true);
      if (!chains.has(e)) chains.set(e, []);
      chains.get(e)!.push(change);
    }
    for (const row of latest.rows) {
      const chain = chains.get(Number(row.entity_id)) ?? [];
      expect(chain.length, `events of entity ${row.entity_id}`).to.be.greaterThan(0);
      expect(chain[0].old, `entity ${row.entity_id} starts from nothing`).to.equal(null);
      for (let i = 1; i < chain.length; i++) {
        expect(chain[i].old, `entity ${row.entity_id} event ${i} follows event ${i - 1}`).to.equal(chain[i - 1].new);
      }
      expect(chain[chain.length - 1].new, `entity ${row.entity_id} ends at its committed latest`).to.equal(Number(row.value_int));
    }
    console.log(`      ${acked} readings acked, ${seen.size} events delivered (${rx.received.length - seen.size} duplicates) for ${latest.rows.length} entities`);
    await endChild(writer, "SIGTERM");
  });
});
