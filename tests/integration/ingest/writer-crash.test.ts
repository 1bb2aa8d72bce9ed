/**
 * The batch writer killed with SIGKILL in the middle of a batch (between its
 * COPY and its COMMIT) and restarted stores every reading exactly once.
 */
import { expect } from "chai";
import { useTestDatabase } from "../../helpers/db";
import { requireStackVar } from "../../helpers/stack-env";
import {
  historyCount,
  newSuffix,
  newTenant,
  post,
  registerAttributes,
  spawnEntry,
  startApi,
  testConfig,
  waitFor,
  type Child,
  type RunningApi,
} from "./harness";

describe("batch writer: SIGKILL in the middle of a batch, then restart", function () {
  this.timeout(240_000);
  const db = useTestDatabase();
  const suffix = newSuffix();
  let api: RunningApi;
  const children: Child[] = [];

  const spawnWriter = () => {
    const c = spawnEntry("app/ingest/writer-main.ts", {
      DATABASE_URL: db.url,
      KAFKA_BROKERS: requireStackVar("KAFKA_BROKERS"),
      REDIS_URL: requireStackVar("REDIS_URL"),
      PORT: "0",
      ATLAS_TOPIC_SUFFIX: suffix,
    });
    children.push(c);
    return c;
  };

  before(async () => {
    api = await startApi({ config: testConfig(db.url), pool: db.pool, mode: "kafka", suffix });
  });
  after(async () => {
    await api?.close();
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
  });

  it("when the writer dies mid-batch and restarts, then every reading is stored exactly once (count and checksum)", async () => {
    const t = await newTenant(db.pool);
    await registerAttributes(api.url, t.api_key, [["temperature", "decimal", true], ["count", "int", true]]);

    // Sent while no writer runs: the backlog makes big batches for the writer to be killed in.
    const REQUESTS = 40;
    const PER = 2_000;
    const base = Date.now() - 3_600_000;
    let sumDecimal = 0;
    let sumInt = 0;
    for (let r = 0; r < REQUESTS; r++) {
      const readings = Array.from({ length: PER }, (_, j) => {
        const i = r * PER + j;
        sumDecimal += i / 4;
        sumInt += i;
        return { entity_id: (i % 997) + 1, entity_type: "sensor", ts: new Date(base + i).toISOString(), values: { temperature: i / 4, count: i } };
      });
      const res = await post(`${api.url}/v1/telemetry`, t.api_key, { readings });
      expect(res.status).to.equal(202);
    }
    const expected = REQUESTS * PER * 2;

    const first = spawnWriter();
    // Let it commit some batches first, so the kill lands between committed and uncommitted work.
    await waitFor(async () => (await historyCount(db.pool, t.tenant_id)) > 0, 120_000, "a first committed batch");
    // Kill it while one of its transactions is between COPY and COMMIT.
    const caught = await waitFor(
      async () => {
        const { rows } = await db.pool.query(
          `SELECT query FROM pg_stat_activity
           WHERE datname = current_database() AND application_name = 'atlas-writer'
             AND state IN ('active', 'idle in transaction') AND (query LIKE 'COPY%' OR query LIKE '%stage_flush%')`,
        );
        return rows.length > 0 ? rows[0].query.slice(0, 40) : undefined;
      },
      120_000,
      "the writer inside a batch",
    );
    first.proc.kill("SIGKILL");
    const code = await first.exited;
    expect(first.proc.signalCode).to.equal("SIGKILL");
    const storedAtKill = await historyCount(db.pool, t.tenant_id);
    console.log(`      killed during "${caught}…" with ${storedAtKill} of ${expected} values committed (exit ${code})`);
    expect(storedAtKill).to.be.greaterThan(0);
    expect(storedAtKill).to.be.lessThan(expected);

    const second = spawnWriter();
    await waitFor(async () => (await historyCount(db.pool, t.tenant_id)) >= expected, 180_000, "all values stored");
    await new Promise((r) => setTimeout(r, 1_500)); // anything replayed late would show up now
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n, count(DISTINCT (entity_id, attribute_id, ts))::int AS distinct_n,
              sum(value_decimal)::float8 AS sd, sum(value_int)::text AS si
       FROM entity_values_ts WHERE tenant_id = $1`,
      [t.tenant_id],
    );
    expect(rows[0].n).to.equal(expected);
    expect(rows[0].distinct_n).to.equal(expected);
    expect(rows[0].sd).to.be.closeTo(sumDecimal, 1e-6);
    expect(rows[0].si).to.equal(String(sumInt));
    // The projection holds each entity's newest reading.
    const latest = await db.pool.query(
      `SELECT l.value_int::int AS c FROM entity_latest l JOIN attributes a USING (tenant_id, attribute_id)
       WHERE l.tenant_id = $1 AND l.entity_id = 1 AND a.name = 'count'`,
      [t.tenant_id],
    );
    const lastForEntity1 = Math.floor((REQUESTS * PER - 1) / 997) * 997;
    expect(latest.rows[0].c).to.equal(lastForEntity1);
    const staging = await db.pool.query("SELECT count(*)::int AS n FROM entity_values_staging");
    expect(staging.rows[0].n).to.equal(0);

    // Graceful stop: SIGTERM → commits what it holds, leaves the group, exits 0.
    second.proc.kill("SIGTERM");
    expect(await second.exited).to.equal(0);
  });
});
