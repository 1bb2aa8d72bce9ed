/**
 * Reconcile on the real stack: per tenant-day counts AND checksums, primary
 * vs warehouse, by the function, the CLI, and the loader's scheduled run
 * (atlas_reconcile_differences). Scoped to this suite's tenant: other suites
 * share the warehouse.
 */
import { expect } from "chai";
import { randomUUID } from "crypto";
import { Pool } from "pg";
import type { Loader } from "../../../app/cdc/loader/loader";
import { reconcile } from "../../../app/cdc/reconcile";
import { registry } from "../../../app/shared/http/metrics";
import { flush } from "../../helpers/db";
import { ensurePipeline, factCount, newGroupId, newTenantWithAttributes, reconcileCli, stack, startTestLoader, waitFor } from "./harness";


/** The gauge as /metrics shows it. */
const differencesMetric = async () => /^atlas_reconcile_differences (\S+)$/m.exec(await registry.metrics())?.[1];

describe("CDC reconcile: counts and checksums per tenant-day, and on a schedule in the loader", function () {
  this.timeout(180_000);
  let pool: Pool;
  let wh: Pool;
  let loader: Loader;
  let tenantId: string;
  let temperatureId: number;
  const since = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  const runs: number[] = [];

  before(async function () {
    this.timeout(180_000);
    await ensurePipeline();
    pool = new Pool({ connectionString: stack().databaseUrl, max: 4 });
    wh = new Pool({ connectionString: stack().warehouseUrl, max: 4 });
    const t = await newTenantWithAttributes(pool, [["temperature", "decimal"], ["count", "int"], ["open", "bool"], ["label", "string"], ["seen", "timestamp"]]);
    tenantId = t.tenantId;
    // The scheduled run every second, on this tenant only (the gauge must not count other suites' days).
    loader = await startTestLoader({
      groupId: newGroupId(),
      reconcile: { databaseUrl: stack().databaseUrl, intervalMs: 1_000, tenantId, onRun: (r) => runs.push(r.differences.length) },
    });
    temperatureId = t.attrs.get("temperature")!;
    // Received 10 minutes ago: older than the scheduled run's settle margin.
    const received_at = new Date(Date.now() - 600_000).toISOString();
    const ts = new Date(Date.now() - 2 * 3_600_000).toISOString();
    const id = (n: string) => t.attrs.get(n)!;
    await flush(pool, randomUUID(), [
      { tenant_id: tenantId, entity_id: 1, attribute_id: id("temperature"), ts, received_at, value_decimal: 21.125 },
      { tenant_id: tenantId, entity_id: 2, attribute_id: id("temperature"), ts, received_at, value_decimal: 0.1 + 0.2 },
      { tenant_id: tenantId, entity_id: 3, attribute_id: id("temperature"), ts, received_at, value_decimal: 1 },
      { tenant_id: tenantId, entity_id: 1, attribute_id: id("count"), ts, received_at, value_int: 9_007_199_254 },
      { tenant_id: tenantId, entity_id: 1, attribute_id: id("open"), ts, received_at, value_bool: false },
      { tenant_id: tenantId, entity_id: 1, attribute_id: id("label"), ts, received_at, value_string: "ünïcode | pipes" },
      { tenant_id: tenantId, entity_id: 1, attribute_id: id("seen"), ts, received_at, value_ts: "2026-01-02T03:04:05.123456Z" },
    ]);
    // NaN: the loader stores NULL; the checksum must agree with that.
    await pool.query("UPDATE entity_values_ts SET value_decimal = 'NaN' WHERE tenant_id = $1 AND entity_id = 3", [tenantId]);
    await waitFor(async () => {
      const { rows } = await wh.query("SELECT value_num FROM fact_readings WHERE tenant_id = $1 AND entity_id = 3", [tenantId]);
      return (await factCount(wh, tenantId)) === 7 && rows[0]?.value_num === null;
    }, 60_000, "7 facts, the NaN one as NULL");
  });

  after(async () => {
    await loader?.stop();
    await pool?.end();
    await wh?.end();
  });

  it("when the warehouse holds the same readings of every value type, then counts and checksums agree", async () => {
    const r = await reconcile(pool, wh, { tenantId, since, waitMs: 30_000 });
    expect(r.differences).to.deep.equal([]);
    expect(r.primaryTotal).to.equal(7);
    expect(r.warehouseTotal).to.equal(7);
  });

  it("when a warehouse value is altered in place (same count), then reconcile reports a checksum difference, the CLI prints it, and the loader's scheduled run sets atlas_reconcile_differences until it is repaired", async () => {
    const alter = (delta: number) =>
      wh.query("UPDATE fact_readings SET value_num = value_num + $3 WHERE tenant_id = $1 AND entity_id = 1 AND attribute_id = $2", [tenantId, temperatureId, delta]);
    await alter(0.5);
    try {
      const r = await reconcile(pool, wh, { tenantId, since, waitMs: 30_000 });
      expect(r.differences).to.have.length(1);
      expect(r.differences[0]).to.include({ tenant_id: tenantId, primary: 7, warehouse: 7, why: "checksum" });

      const cli = await reconcileCli(["--tenant", tenantId, "--since", since, "--wait-seconds", "30"]);
      expect(cli.status, cli.stdout + cli.stderr).to.equal(1);
      expect(cli.stdout).to.match(new RegExp(`${tenantId}\\s+${r.differences[0].day}\\s+7\\s+7\\s+0\\s+checksum`));

      const before = runs.length;
      await waitFor(async () => runs.length > before + 1 && (await differencesMetric()) === "1", 60_000, "atlas_reconcile_differences 1");
    } finally {
      await alter(-0.5);
    }
    const repaired = runs.length;
    await waitFor(async () => runs.length > repaired + 1 && (await differencesMetric()) === "0", 60_000, "atlas_reconcile_differences 0");
  });
});
