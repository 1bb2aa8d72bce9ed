/**
 * With Kafka stopped the API answers 503 (never 202), and once Kafka is back
 * a retried post is stored exactly once. Stops the stack's broker with its
 * own script (scripts/stack/kafka.sh) and starts it again afterwards.
 */
import { expect } from "chai";
import { execFile } from "child_process";
import { promisify } from "util";
import { useTestDatabase } from "../../helpers/db";
import type { BatchWriter } from "../../../app/ingest/writer";
import { historyCount, newSuffix, newTenant, post, registerAttributes, startApi, startWriter, testConfig, waitFor, type RunningApi } from "./harness";

// Async, so the in-process API keeps serving (and timing out its keep-alive sockets) meanwhile.
const kafkaScript = (action: "stop" | "start") =>
  promisify(execFile)("bash", ["scripts/stack/kafka.sh", action], { timeout: 180_000 });

describe("ingest with Kafka down: 503 with Retry-After, then a retry is stored once", function () {
  this.timeout(300_000);
  const db = useTestDatabase();
  const suffix = newSuffix();
  let api: RunningApi;
  let writer: BatchWriter;

  before(async () => {
    api = await startApi({ config: testConfig(db.url), pool: db.pool, mode: "kafka", suffix, sendTimeoutMs: 3_000 });
    writer = await startWriter(db.pool, suffix);
  });
  after(async () => {
    await kafkaScript("start"); // whatever happened, leave the stack's broker running
    await api?.close();
    await writer?.stop().catch(() => undefined);
  });

  it("when the broker is stopped, then 503 dependency_unavailable quickly; when it is back, the retried post is stored exactly once", async () => {
    const t = await newTenant(db.pool);
    await registerAttributes(api.url, t.api_key, [["temperature", "decimal", true], ["status", "string", true]]);
    const ts = new Date(Date.now() - 10_000).toISOString();
    const body = { readings: [{ entity_id: 42, entity_type: "sensor", ts, values: { temperature: 4.2, status: "retry-me" } }] };
    expect((await post(`${api.url}/v1/telemetry`, t.api_key, { readings: [{ entity_id: 1, entity_type: "sensor", values: { temperature: 1 } }] })).status).to.equal(202);

    await kafkaScript("stop");
    const started = Date.now();
    const down = await post(`${api.url}/v1/telemetry`, t.api_key, body);
    const elapsed = Date.now() - started;
    expect(down.status).to.equal(503);
    expect(down.body.error.code).to.equal("dependency_unavailable");
    expect(down.body.error.message).to.match(/kafka/);
    expect(Number(down.headers.get("retry-after"))).to.be.greaterThan(0);
    expect(elapsed).to.be.lessThan(10_000);
    const ready = await fetch(`${api.url}/readyz`);
    expect(ready.status).to.equal(503);
    console.log(`      503 after ${elapsed} ms with the broker stopped`);

    await kafkaScript("start");
    let attempts = 0;
    const accepted = await waitFor(
      async () => {
        attempts++;
        const r = await post(`${api.url}/v1/telemetry`, t.api_key, body);
        return r.status === 202 ? r : undefined;
      },
      120_000,
      "a 202 once the broker is back",
    );
    expect(accepted.body).to.deep.equal({ accepted: 1 });
    await waitFor(async () => (await historyCount(db.pool, t.tenant_id)) === 3, 120_000, "the retried reading stored");
    await new Promise((r) => setTimeout(r, 1_000));
    const { rows } = await db.pool.query(
      "SELECT count(*)::int AS n FROM entity_values_ts WHERE tenant_id = $1 AND entity_id = 42",
      [t.tenant_id],
    );
    expect(rows[0].n).to.equal(2);
    console.log(`      stored once after ${attempts} post(s) once the broker was back`);
  });
});
