/**
 * Fault scenario 6: the Debezium connector restarted (Kafka Connect REST,
 * then its worker killed and started again) and the CDC loader stopped and
 * killed mid-batch, each under ingest load over HTTP. Afterwards the
 * warehouse must reconcile with the primary exactly (app/cdc/reconcile.ts):
 * per tenant and day the same counts, no duplicate keys, the same values.
 *
 * The suites share the stack's one connector on `atlas`, so this isolates by
 * tenant; the loader runs as its own process (cdc-loader-proc.ts) in its own
 * consumer group, so it can be killed.
 */
import { expect } from "chai";
import fs from "fs";
import { Pool } from "pg";
import { restartConnectorCleanly, connectorStreams } from "../../../app/cdc/register";
import { reconcile } from "../../../app/cdc/reconcile";
import { connect, CONNECTOR_NAME, ensurePipeline, factCount, historyCount, newGroupId, stack, startGroupAtEnd, waitFor } from "../cdc/harness";
import { newTenant, post, registerAttributes, spawnEntry, startApi, testConfig, type Child, type RunningApi } from "../ingest/harness";
import { stackPart } from "./stack-parts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** HTTP ingest in `loops` parallel loops: distinct (entity, ts) per reading, two values each, until stopped. */
class IngestLoad {
  readonly statuses: Record<number, number> = {};
  readings = 0;
  firstTs = Date.now() - 3_600_000;
  private next = 0;
  private running = false;
  private loops: Promise<void>[] = [];
  constructor(private readonly url: string, private readonly key: string, private readonly perRequest = 20) {}

  start(loops = 2): void {
    this.running = true;
    this.loops = Array.from({ length: loops }, async () => {
      while (this.running) {
        const readings = Array.from({ length: this.perRequest }, () => {
          const i = this.next++;
          return { entity_id: (i % 500) + 1, entity_type: "sensor", ts: new Date(this.firstTs + i).toISOString(), values: { temperature: (i % 1000) / 4, status: `s${i % 7}` } };
        });
        const res = await post(`${this.url}/v1/telemetry`, this.key, { readings });
        this.statuses[res.status] = (this.statuses[res.status] ?? 0) + 1;
        if (res.status === 202) this.readings += readings.length;
        await sleep(100);
      }
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

/** The TCP ports of a process's sockets (Linux /proc), to find its sessions in pg_stat_activity. */
function localPortsOf(pid: number): Set<number> {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: "utf8" }) || "");
    if (m) inodes.add(m[1]);
  }
  const ports = new Set<number>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of fs.readFileSync(table, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && inodes.has(cols[9])) ports.add(parseInt(cols[1].split(":").pop()!, 16));
    }
  }
  return ports;
}

describe("fault: Debezium connector and CDC loader restarted under ingest load (real stack)", function () {
  this.timeout(240_000);
  let pool: Pool;
  let wh: Pool;
  let api: RunningApi;
  let group: string;
  let loader: Child | null = null;
  const children: Child[] = [];

  const spawnLoader = async (): Promise<Child> => {
    const c = spawnEntry("tests/integration/faults/cdc-loader-proc.ts", { ATLAS_TEST_CDC_GROUP: group });
    children.push(c);
    await c.waitForLog((l) => l.msg === "cdc loader started", 90_000);
    return c;
  };

  /** Waits until the tenant's rows are all in the warehouse, then audits primary vs warehouse. */
  const audit = async (tenantId: string, since: string) => {
    const primaryRows = await historyCount(pool, tenantId);
    await waitFor(async () => (await factCount(wh, tenantId)) === primaryRows, 150_000, `${primaryRows} facts in the warehouse`).catch(async (err) => {
      throw new Error(`${(err as Error).message}: warehouse has ${await factCount(wh, tenantId)}`);
    });
    const r = await reconcile(pool, wh, { tenantId, since, waitMs: 30_000 });
    const { rows: [d] } = await wh.query<{ n: number; dup: number; sum: number }>(
      `SELECT count(*)::int AS n, (count(*) - count(DISTINCT (entity_id, attribute_id, ts)))::int AS dup, coalesce(sum(value_num), 0)::float8 AS sum
       FROM fact_readings WHERE tenant_id = $1`,
      [tenantId],
    );
    const { rows: [p] } = await pool.query<{ sum: number }>(
      "SELECT coalesce(sum(value_decimal), 0)::float8 AS sum FROM entity_values_ts WHERE tenant_id = $1",
      [tenantId],
    );
    return { primaryRows, warehouseRows: d.n, duplicates: d.dup, sumsEqual: Math.abs(d.sum - p.sum) < 1e-6 * Math.max(1, Math.abs(p.sum)), reconcile: r };
  };

  /** A tenant of its own and the ingest load for it. */
  const loadFor = async () => {
    const t = await newTenant(pool);
    await registerAttributes(api.url, t.api_key, [["temperature", "decimal"], ["status", "string"]]);
    await pool.query("UPDATE tenants SET rate_limit_rps = 100000 WHERE tenant_id = $1", [t.tenant_id]);
    return { tenantId: t.tenant_id, load: new IngestLoad(api.url, t.api_key) };
  };

  before(async function () {
    this.timeout(240_000);
    await ensurePipeline();
    pool = new Pool({ connectionString: stack().databaseUrl, max: 6 });
    wh = new Pool({ connectionString: stack().warehouseUrl, max: 4 });
    group = newGroupId();
    await startGroupAtEnd(group);
    loader = await spawnLoader();
    api = await startApi({ config: testConfig(stack().databaseUrl), pool, mode: "direct" });
  });

  after(async function () {
    this.timeout(240_000);
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
    await api?.close();
    // Whatever happened: the worker runs and the connector streams, for the files after this one.
    const s = stack();
    await stackPart("connect", "start");
    if (!(await connectorStreams(s.databaseUrl, 30_000))) await restartConnectorCleanly({ databaseUrl: s.databaseUrl, connectUrl: s.connectUrl });
    await pool?.end();
    await wh?.end();
  });

  it("when the Debezium connector is restarted over REST and its Connect worker is killed and started again under ingest load, then the warehouse reconciles with the primary: same counts, no duplicates, same values", async () => {
    const { tenantId, load } = await loadFor();
    const s = stack();
    const timings: string[] = [];
    load.start(2);
    try {
      await sleep(2_000);
      let t0 = Date.now();
      await connect().restart(CONNECTOR_NAME);
      await connect().waitFor(CONNECTOR_NAME, "RUNNING", 90_000);
      expect(await connectorStreams(s.databaseUrl, 60_000), "streaming after the REST restart").to.equal(true);
      timings.push(`REST restart → streaming ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await sleep(2_000);

      t0 = Date.now();
      await stackPart("connect", "kill");
      await sleep(1_000); // writes go on with nobody reading the slot
      await stackPart("connect", "start");
      await connect().waitFor(CONNECTOR_NAME, "RUNNING", 90_000);
      expect(await connectorStreams(s.databaseUrl, 60_000), "streaming after the worker was killed and started").to.equal(true);
      timings.push(`worker kill + start → streaming ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await sleep(2_000);
    } finally {
      await load.stop();
    }
    expect(load.statuses, "ingest answers").to.deep.equal({ 202: load.statuses[202] });
    const a = await audit(tenantId, new Date(load.firstTs).toISOString().slice(0, 10));
    console.log(
      `      audit (connector): ${load.readings} readings accepted; primary ${a.primaryRows} rows, warehouse ${a.warehouseRows}, duplicates ${a.duplicates}, ` +
        `values ${a.sumsEqual ? "equal" : "DIFFER"}; reconcile: ${a.reconcile.compared} tenant-day(s), ${a.reconcile.differences.length} difference(s); ${timings.join(", ")}`,
    );
    expect(a.primaryRows).to.equal(load.readings * 2);
    expect(a.warehouseRows).to.equal(a.primaryRows);
    expect(a.duplicates).to.equal(0);
    expect(a.sumsEqual, "value checksum").to.equal(true);
    expect(a.reconcile.differences).to.deep.equal([]);
    expect(a.reconcile.primaryTotal).to.equal(a.primaryRows);
  });

  it("when the CDC loader is stopped (SIGTERM) and then killed (SIGKILL) in the middle of a warehouse transaction under ingest load, and restarted each time, then the warehouse reconciles with the primary: same counts, no duplicates, same values", async () => {
    const { tenantId, load } = await loadFor();
    const timings: string[] = [];
    let killedMidTransaction = false;
    load.start(2);
    try {
      await waitFor(async () => (await factCount(wh, tenantId)) > 0, 60_000, "first facts of the tenant");

      // Graceful: drains the micro-batch in flight, leaves the group, restarts.
      let t0 = Date.now();
      loader!.proc.kill("SIGTERM");
      expect(await loader!.exited, "exit code after SIGTERM").to.equal(0);
      loader = await spawnLoader();
      const before = await factCount(wh, tenantId);
      await waitFor(async () => (await factCount(wh, tenantId)) > before, 60_000, "loading again after SIGTERM");
      timings.push(`SIGTERM → loading again ${((Date.now() - t0) / 1000).toFixed(1)} s`);

      // Crash: SIGKILL while its warehouse transaction is open (after BEGIN, before COMMIT).
      const deadline = Date.now() + 30_000;
      while (!killedMidTransaction && Date.now() < deadline) {
        // Its sessions (by client port); a transaction holding an xid has written and not yet committed.
        const { rows } = await wh.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND client_port = ANY($1::int[]) AND backend_xid IS NOT NULL`,
          [[...localPortsOf(loader.proc.pid!)]],
        );
        if (rows[0].n > 0) {
          loader.proc.kill("SIGKILL");
          killedMidTransaction = true;
        }
      }
      if (!killedMidTransaction) loader.proc.kill("SIGKILL");
      t0 = Date.now();
      await loader.exited;
      // The killed member holds its partitions until its session times out (30 s); then the restarted loader replays from the last committed offsets.
      loader = await spawnLoader();
      const atRestart = await factCount(wh, tenantId);
      await waitFor(async () => (await factCount(wh, tenantId)) > atRestart, 90_000, "loading again after SIGKILL");
      timings.push(`SIGKILL → loading again ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await sleep(1_000);
    } finally {
      await load.stop();
    }
    expect(killedMidTransaction, "the loader was caught inside a warehouse transaction").to.equal(true);
    expect(load.statuses, "ingest answers").to.deep.equal({ 202: load.statuses[202] });
    const a = await audit(tenantId, new Date(load.firstTs).toISOString().slice(0, 10));
    console.log(
      `      audit (loader): ${load.readings} readings accepted; primary ${a.primaryRows} rows, warehouse ${a.warehouseRows}, duplicates ${a.duplicates}, ` +
        `values ${a.sumsEqual ? "equal" : "DIFFER"}; reconcile: ${a.reconcile.compared} tenant-day(s), ${a.reconcile.differences.length} difference(s); ` +
        `killed mid-transaction: ${killedMidTransaction}; ${timings.join(", ")}`,
    );
    expect(a.primaryRows).to.equal(load.readings * 2);
    expect(a.warehouseRows).to.equal(a.primaryRows);
    expect(a.duplicates).to.equal(0);
    expect(a.sumsEqual, "value checksum").to.equal(true);
    expect(a.reconcile.differences).to.deep.equal([]);
  });
});
