import { expect } from "chai";
import { randomUUID } from "crypto";
import { cpSync, mkdtempSync, readdirSync } from "fs";
import { tmpdir } from "os";
import path from "path";
import { defaultMigrationsDir, migrate } from "../../../db/migrate";
import { getEntity } from "../../../app/query/sql/entities";
import { createTenant } from "../../../app/shared/tenants";
import { asTenant, createTestDatabase, flush, projectionOf, StagedRow, useTestDatabase, type TestDatabase } from "../../helpers/db";

const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000).toISOString();

async function addAttributes(db: TestDatabase, tenant: string, defs: Array<[string, string, boolean]>): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{ name: string; attribute_id: number }>(
    `INSERT INTO attributes (tenant_id, name, data_type, is_hot)
     SELECT $1, d.name, d.data_type, d.is_hot FROM jsonb_to_recordset($2::jsonb) AS d(name text, data_type text, is_hot boolean)
     RETURNING name, attribute_id`,
    [tenant, JSON.stringify(defs.map(([name, data_type, is_hot]) => ({ name, data_type, is_hot })))],
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.attribute_id]));
}

/** The entity as GET /v1/entities/{id} reads it: as atlas_app, under RLS. */
const apiView = (db: TestDatabase, tenant: string, entity: number) =>
  asTenant(db.pool, tenant, (c) => getEntity(c, tenant, String(entity)));

describe("db: migrations 000009+ — a database filled by the old whole-document layout", function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let tenants: string[];
  const oldDocs = new Map<string, { hot: unknown; latest: Record<string, { v: unknown; ts: string }>; updated_at: Date; entity_type: string }>();
  let attrs: Record<string, Record<string, number>>;

  before(async () => {
    // Migrations up to 000008 only: the layout before this change.
    const dir = mkdtempSync(path.join(tmpdir(), "atlas-old-layout-"));
    for (const f of readdirSync(defaultMigrationsDir()).filter((f) => f < "000009")) cpSync(path.join(defaultMigrationsDir(), f), path.join(dir, f));
    db = await createTestDatabase({ migrate: false });
    await migrate(db.pool, { migrationsDir: dir });
    tenants = [(await createTenant(db.pool, "old-a")).tenant_id, (await createTenant(db.pool, "old-b")).tenant_id];
    attrs = {};
    for (const t of tenants) {
      attrs[t] = await addAttributes(db, t, [
        ["temperature", "decimal", true], ["count", "int", true], ["online", "bool", false],
        ["status", "string", true], ["seen_at", "timestamp", false], ["big", "int", false],
      ]);
      // Two batches per entity, the second partly late: the old stage_flush merges them.
      for (let e = 1; e <= 50; e++) {
        const a = attrs[t];
        const row = (name: string, ts: string, v: Partial<StagedRow>): StagedRow => ({ tenant_id: t, entity_id: e, attribute_id: a[name], ts, ...v });
        await flush(db.pool, randomUUID(), [
          row("temperature", hoursAgo(3), { value_decimal: e + 0.1 }),
          row("count", hoursAgo(3), { value_int: e }),
          row("online", hoursAgo(3), { value_bool: e % 2 === 0 }),
          row("status", hoursAgo(3), { value_string: `tab\there ${e}` }),
          row("big", hoursAgo(3), { value_int: 9007199254740993 + e }),
        ]);
        await flush(db.pool, randomUUID(), [
          row("temperature", hoursAgo(1), { value_decimal: e / 3 }),
          row("count", hoursAgo(5), { value_int: -e }), // late: must not win
          row("seen_at", hoursAgo(2), { value_ts: "2026-11-24T10:00:00.123Z" }),
        ]);
      }
    }
    // entity_values_ts with "big" is bigint; the projection held it as a string.
    const { rows } = await db.pool.query("SELECT tenant_id, entity_id::text, entity_type, hot, latest, updated_at FROM entity_jsonb");
    for (const r of rows) oldDocs.set(`${r.tenant_id}|${r.entity_id}`, r);
    expect(oldDocs.size).to.equal(100);
  });
  after(async () => db?.drop());

  it("when the migrations from 000009 on run, then every latest value, hot document and updated_at survives exactly, and the API reads them", async () => {
    const { applied } = await migrate(db.pool);
    expect(applied[0]).to.equal("000009");
    const { rows: cols } = await db.pool.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'entity_jsonb'");
    expect(cols.map((c) => c.column_name)).not.to.include("latest");
    const { rows: n } = await db.pool.query("SELECT count(*)::int AS n FROM entity_latest");
    expect(n[0].n).to.equal(100 * 6);
    for (const [key, old] of oldDocs) {
      const [tenant, entity] = key.split("|");
      const now = (await projectionOf(db.pool, tenant, entity))!;
      expect(now.latest, key).to.deep.equal(old.latest);
      expect(now.hot, key).to.deep.equal(old.hot);
      expect(now.updated_at.getTime(), key).to.equal(old.updated_at.getTime());
    }
    const view = (await apiView(db, tenants[0], 7))!;
    expect(view.attributes.count).to.deep.equal({ value: 7, ts: oldDocs.get(`${tenants[0]}|7`)!.latest.count.ts });
    expect(view.attributes.big.value).to.equal(String(9007199254740993 + 7));
    expect(view.attributes.status.value).to.equal("tab\there 7");
    expect(view.attributes.seen_at.value).to.equal("2026-11-24T10:00:00.123Z");
  });

  it("when readings arrive after the migration, then the migrated values are merged with by device time like any other", async () => {
    const t = tenants[1];
    const a = attrs[t];
    await flush(db.pool, randomUUID(), [
      { tenant_id: t, entity_id: 3, attribute_id: a.temperature, ts: hoursAgo(0.5), value_decimal: 99 },
      { tenant_id: t, entity_id: 3, attribute_id: a.count, ts: hoursAgo(10), value_int: 1234 }, // older than the migrated value
    ]);
    const p = (await projectionOf(db.pool, t, 3))!;
    expect(p.latest.temperature.v).to.equal(99);
    expect(p.hot).to.deep.include({ temperature: 99, count: 3 });
    expect(p.latest.count.v).to.equal(3);
  });
});

describe("db: narrow latest values (entity_latest)", function () {
  this.timeout(120_000);
  const db = useTestDatabase();
  let tenant: string;

  before(async () => {
    tenant = (await createTenant(db.pool, "latest-tenant")).tenant_id;
  });

  it("when a reading's attribute is later made hot, then the sync puts its latest value into hot and search finds it; made cold, it leaves hot and new readings stay out", async () => {
    const a = await addAttributes(db, tenant, [["mode", "string", false], ["level", "int", true]]);
    await flush(db.pool, randomUUID(), [
      { tenant_id: tenant, entity_id: 1, attribute_id: a.mode, ts: hoursAgo(2), value_string: "eco" },
      { tenant_id: tenant, entity_id: 1, attribute_id: a.level, ts: hoursAgo(2), value_int: 4 },
    ]);
    expect((await projectionOf(db.pool, tenant, 1))!.hot).to.deep.equal({ level: 4 });

    const sync = (hot: boolean) =>
      db.pool.query("UPDATE attributes SET is_hot = $3 WHERE tenant_id = $1 AND name = $2", [tenant, "mode", hot]).then(() =>
        db.pool.query("SELECT atlas_sync_hot_attribute($1, 'mode') AS n", [tenant]));
    expect((await sync(true)).rows[0].n).to.equal("1");
    expect((await projectionOf(db.pool, tenant, 1))!.hot).to.deep.equal({ level: 4, mode: "eco" });
    const found = await asTenant(db.pool, tenant, (c) => c.query("SELECT atlas_hot_candidates(ARRAY['{\"mode\":\"eco\"}'::jsonb], 10) AS id"));
    expect(found.rows.map((r) => r.id)).to.deep.equal(["1"]);
    // A newer reading of the now hot attribute updates hot by its changed key only.
    await flush(db.pool, randomUUID(), [{ tenant_id: tenant, entity_id: 1, attribute_id: a.mode, ts: hoursAgo(1), value_string: "boost" }]);
    expect((await projectionOf(db.pool, tenant, 1))!.hot).to.deep.equal({ level: 4, mode: "boost" });

    expect((await sync(false)).rows[0].n).to.equal("1");
    expect((await projectionOf(db.pool, tenant, 1))!.hot).to.deep.equal({ level: 4 });
    await flush(db.pool, randomUUID(), [{ tenant_id: tenant, entity_id: 1, attribute_id: a.mode, ts: hoursAgo(0.5), value_string: "off" }]);
    const p = (await projectionOf(db.pool, tenant, 1))!;
    expect(p.hot).to.deep.equal({ level: 4 });
    expect(p.latest.mode.v).to.equal("off");
  });

  it("when one entity has 10,000 distinct attributes, then all are stored and read back, and hot holds only its hot ones", async () => {
    const defs: Array<[string, string, boolean]> = [];
    for (let i = 0; i < 10_000; i++) defs.push([`a${i}`, i % 2 ? "int" : "decimal", i % 100 === 0]);
    const a = await addAttributes(db, tenant, defs);
    const batch = (hoursBack: number, k: number): StagedRow[] =>
      defs.map(([name, type]) => ({
        tenant_id: tenant, entity_id: 42, attribute_id: a[name], ts: hoursAgo(hoursBack),
        ...(type === "int" ? { value_int: k } : { value_decimal: k + 0.5 }),
      }));
    await flush(db.pool, randomUUID(), batch(3, 1));
    await flush(db.pool, randomUUID(), batch(2, 2));

    const view = (await apiView(db, tenant, 42))!;
    expect(Object.keys(view.attributes)).to.have.length(10_000);
    expect(view.attributes.a9999.value).to.equal(2);
    expect(view.attributes.a0.value).to.equal(2.5);
    const p = (await projectionOf(db.pool, tenant, 42))!;
    expect(Object.keys(p.hot)).to.have.length(100); // only the hot ones
    expect(p.hot.a9900).to.equal(2.5);
    const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM entity_latest WHERE tenant_id = $1 AND entity_id = 42", [tenant]);
    expect(rows[0].n).to.equal(10_000);
  });
});
