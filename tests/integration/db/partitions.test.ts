import { expect } from "chai";
import { randomUUID } from "crypto";
import { Pool } from "pg";
import { maintainPartitions } from "../../../db/maintenance";
import type { Partitioning } from "../../../db/migrate";
import { createTenant } from "../../../app/shared/tenants";
import { createTestDatabase, flush, TestDatabase } from "../../helpers/db";

const DAY = 86_400_000;
const utcDay = (offsetDays: number) => {
  const d = new Date(Date.now() + offsetDays * DAY);
  return d.toISOString().slice(0, 10);
};

interface Partition {
  partition_name: string;
  range_from: Date | null;
  range_to: Date | null;
  is_default: boolean;
}
const partitions = async (pool: Pool): Promise<Partition[]> => (await pool.query("SELECT * FROM atlas_history_partitions()")).rows;
const covering = (parts: Partition[], day: string) =>
  parts.find((p) => !p.is_default && p.range_from!.toISOString().slice(0, 10) === day);

async function partmanAvailable(): Promise<boolean> {
  const db = await createTestDatabase({ migrate: false });
  try {
    const { rowCount } = await db.pool.query("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_partman'");
    return rowCount === 1;
  } finally {
    await db.drop();
  }
}

/** The same behaviour on both paths: pg_partman where the server has it, the runner's fallback otherwise. */
function partitionSuite(mode: Exclude<Partitioning, "auto">): void {
  describe(`db: daily history partitions, ${mode} path (real PostgreSQL)`, function () {
    this.timeout(120_000);
    let db: TestDatabase;
    let tenant: string;
    let attributeId: number;

    before(async function () {
      if (mode === "partman" && !(await partmanAvailable())) {
        // Not silent: reported as pending with the reason.
        this.skip();
      }
      db = await createTestDatabase({ partitioning: mode });
      tenant = (await createTenant(db.pool, `tenant-${mode}`)).tenant_id;
      const { rows } = await db.pool.query(
        "INSERT INTO attributes (tenant_id, name, data_type, is_hot) VALUES ($1, 'temperature', 'decimal', true) RETURNING attribute_id",
        [tenant],
      );
      attributeId = rows[0].attribute_id;
    });
    after(async () => {
      await db?.drop();
    });

    it(`when migrated with ${mode}, then daily UTC partitions exist from a week back to a week ahead, plus a default`, async () => {
      const parts = await partitions(db.pool);
      expect(parts.filter((p) => p.is_default)).to.have.length(1);
      for (const offset of [-7, -1, 0, 1, 7]) expect(covering(parts, utcDay(offset)), `day ${offset}`).to.not.equal(undefined);
      for (const p of parts.filter((x) => !x.is_default)) {
        expect(p.range_to!.getTime() - p.range_from!.getTime()).to.equal(DAY);
        expect(p.range_from!.getUTCHours()).to.equal(0);
      }
      const ext = await db.pool.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_partman'");
      expect(ext.rowCount).to.equal(mode === "partman" ? 1 : 0);
      const managed = await db.pool.query("SELECT atlas_partman_schema() AS s");
      expect(managed.rows[0].s).to.equal(mode === "partman" ? "partman" : null);
    });

    it("when a far-past reading lands in the default partition, then maintenance moves it into a partition of its day and it is still found", async () => {
      const day = utcDay(-60);
      const ts = `${day}T13:45:00.000Z`;
      await flush(db.pool, randomUUID(), [
        { tenant_id: tenant, entity_id: 1, attribute_id: attributeId, ts, value_decimal: 42 },
        { tenant_id: tenant, entity_id: 2, attribute_id: attributeId, ts, value_decimal: 43 },
      ]);
      const where = "FROM entity_values_ts WHERE tenant_id = $1 AND ts = $2 ORDER BY entity_id";
      const before = await db.pool.query(`SELECT tableoid::regclass::text AS part, value_decimal ${where}`, [tenant, ts]);
      expect(before.rows.map((r) => r.part)).to.deep.equal(["entity_values_ts_default", "entity_values_ts_default"]);

      const result = (await db.pool.query("SELECT atlas_maintain_partitions(400) AS r")).rows[0].r;
      expect(result).to.include({ moved_rows: 2, dropped: 0 });

      const after = await db.pool.query(`SELECT tableoid::regclass::text AS part, value_decimal ${where}`, [tenant, ts]);
      expect(after.rows.map((r) => r.value_decimal)).to.deep.equal([42, 43]);
      const part = covering(await partitions(db.pool), day);
      expect(after.rows.map((r) => r.part)).to.deep.equal([part!.partition_name, part!.partition_name]);
      const dflt = await db.pool.query("SELECT count(*)::int AS n FROM entity_values_ts_default");
      expect(dflt.rows[0].n).to.equal(0);
    });

    it("when maintenance runs, then partitions exist the premake days ahead", async () => {
      await db.pool.query("SELECT atlas_maintain_partitions(NULL, 10)");
      expect(covering(await partitions(db.pool), utcDay(10))).to.not.equal(undefined);
    });

    it("when maintenance runs with a retention, then whole partitions older than it are dropped and newer ones kept", async () => {
      const old = utcDay(-60);
      const result = (await db.pool.query("SELECT atlas_maintain_partitions(30) AS r")).rows[0].r;
      expect(result.dropped).to.be.greaterThan(0);
      const parts = await partitions(db.pool);
      expect(covering(parts, old)).to.equal(undefined);
      expect(covering(parts, utcDay(-29))).to.equal(undefined); // never existed: created from -7
      expect(covering(parts, utcDay(-7))).to.not.equal(undefined);
      const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM entity_values_ts WHERE ts < now() - interval '30 days'");
      expect(rows[0].n).to.equal(0);
    });

    it("when two maintenance runs overlap, then the second one skips", async () => {
      const a = await db.pool.connect();
      try {
        await a.query("BEGIN");
        await a.query("SELECT atlas_maintain_partitions()");
        const other = (await db.pool.query("SELECT atlas_maintain_partitions() AS r")).rows[0].r;
        expect(other).to.deep.equal({ skipped: true });
      } finally {
        await a.query("ROLLBACK");
        a.release();
      }
    });
  });
}

partitionSuite("partman");
partitionSuite("native");

describe("db: maintainPartitions from a service (real PostgreSQL)", function () {
  this.timeout(60_000);
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase({ partitioning: "native" });
  });
  after(async () => {
    await db?.drop();
  });

  it("when the writer runs maintenance, then it premakes the requested days ahead and reports what it did", async () => {
    const result = await maintainPartitions(db.pool, { retentionDays: 400, premakeDays: 12 });
    expect(result).to.deep.include({ moved_rows: 0, dropped: 0 });
    expect(result.created).to.equal(5); // days +8 … +12; migration made −7 … +7
    expect(covering(await partitions(db.pool), utcDay(12))).to.not.equal(undefined);
  });

  it("when another session holds the default partition, then maintenance gives up after its lock timeout instead of queueing", async () => {
    const tenant = (await createTenant(db.pool, "locker")).tenant_id;
    const { rows } = await db.pool.query(
      "INSERT INTO attributes (tenant_id, name, data_type) VALUES ($1, 't', 'int') RETURNING attribute_id",
      [tenant],
    );
    await flush(db.pool, randomUUID(), [
      { tenant_id: tenant, entity_id: 1, attribute_id: rows[0].attribute_id, ts: `${utcDay(-50)}T00:00:00Z`, value_int: 1 },
    ]);
    const holder = await db.pool.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("LOCK TABLE entity_values_ts_default IN ACCESS SHARE MODE");
      const err = await maintainPartitions(db.pool, { retentionDays: 400, lockTimeoutMs: 200 }).then(
        () => null,
        (e: { code?: string }) => e,
      );
      expect(err?.code).to.equal("55P03"); // lock_not_available
    } finally {
      await holder.query("ROLLBACK");
      holder.release();
    }
    const ok = await maintainPartitions(db.pool, { retentionDays: 400 });
    expect(ok.moved_rows).to.equal(1);
  });
});
