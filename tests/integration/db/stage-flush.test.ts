import { expect } from "chai";
import { randomUUID } from "crypto";
import { createTenant } from "../../../app/shared/tenants";
import { Readable } from "stream";
import { pipeline } from "stream/promises";
import { from as copyFrom } from "pg-copy-streams";
import { flush, projectionOf, StagedRow, useTestDatabase } from "../../helpers/db";

const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000).toISOString();

describe("db: stage_flush — history and projection (real PostgreSQL)", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  let tenant: string;
  const attr: Record<string, number> = {};

  before(async () => {
    tenant = (await createTenant(db.pool, "flush-tenant")).tenant_id;
    const defs: Array<[string, string, boolean]> = [
      ["temperature", "decimal", true],
      ["count", "int", true],
      ["online", "bool", true],
      ["status", "string", true],
      ["last_seen", "timestamp", true],
      ["firmware", "string", false],
    ];
    for (const [name, type, hot] of defs) {
      const { rows } = await db.pool.query(
        "INSERT INTO attributes (tenant_id, name, data_type, is_hot) VALUES ($1, $2, $3, $4) RETURNING attribute_id",
        [tenant, name, type, hot],
      );
      attr[name] = rows[0].attribute_id;
    }
  });

  const row = (entity: number, name: string, ts: string, value: Partial<StagedRow>): StagedRow => ({
    tenant_id: tenant,
    entity_id: entity,
    attribute_id: attr[name],
    ts,
    ...value,
  });
  // Typed as present: a test that expects a row reads its fields directly.
  const projection = async (entity: number) => (await projectionOf(db.pool, tenant, entity))!;
  const historyOf = async (entity: number) =>
    (
      await db.pool.query(
        "SELECT count(*)::int AS n, coalesce(sum(value_decimal), 0)::float AS sum FROM entity_values_ts WHERE tenant_id = $1 AND entity_id = $2",
        [tenant, entity],
      )
    ).rows[0];

  it("when a batch is flushed, then history, entity and projection hold it with typed JSON values, and staging is empty", async () => {
    const batch = randomUUID();
    const ts = hoursAgo(30);
    const touched = await flush(db.pool, batch, [
      row(1, "temperature", ts, { value_decimal: 21.5 }),
      row(1, "count", ts, { value_int: 7 }),
      row(1, "online", ts, { value_bool: true }),
      row(1, "status", ts, { value_string: "online" }),
      row(1, "last_seen", ts, { value_ts: "2026-11-20T09:59:00Z" }), // an ISO value, any offset
      row(1, "firmware", ts, { value_string: "1.2.3" }),
    ]);
    expect(touched).to.deep.equal([{ tenant_id: tenant, entity_id: "1" }]);
    const p = await projection(1);
    expect(p.entity_type).to.equal("sensor");
    expect(p.hot).to.deep.equal({
      temperature: 21.5,
      count: 7,
      online: true,
      status: "online",
      last_seen: "2026-11-20T09:59:00.000Z",
    });
    expect(p.latest.firmware).to.deep.equal({ v: "1.2.3", ts });
    expect(p.latest.temperature).to.deep.equal({ v: 21.5, ts });
    expect(p.updated_at.toISOString()).to.equal(ts);
    const ent = await db.pool.query("SELECT entity_type FROM entities WHERE tenant_id = $1 AND entity_id = 1", [tenant]);
    expect(ent.rows).to.deep.equal([{ entity_type: "sensor" }]);
    const staged = await db.pool.query("SELECT count(*)::int AS n FROM entity_values_staging WHERE batch_id = $1", [batch]);
    expect(staged.rows[0].n).to.equal(0);
  });

  it("when an entity's readings name no type, then it is stored untyped; the earliest reading that names one types it, and a later type never replaces it", async () => {
    const typeOf = async (entity: number) =>
      (await db.pool.query("SELECT entity_type FROM entities WHERE tenant_id = $1 AND entity_id = $2", [tenant, entity])).rows[0].entity_type;
    await flush(db.pool, randomUUID(), [row(30, "temperature", hoursAgo(9), { entity_type: null, value_decimal: 1 })]);
    expect(await typeOf(30)).to.equal(null);
    await flush(db.pool, randomUUID(), [
      row(30, "temperature", hoursAgo(7), { entity_type: "valve", value_decimal: 3 }),
      row(30, "temperature", hoursAgo(8), { entity_type: "pump", value_decimal: 2 }),
      row(30, "count", hoursAgo(6), { entity_type: null, value_int: 1 }),
    ]);
    expect(await typeOf(30)).to.equal("pump");
    await flush(db.pool, randomUUID(), [row(30, "temperature", hoursAgo(5), { entity_type: "valve", value_decimal: 4 })]);
    expect(await typeOf(30)).to.equal("pump");
    expect(await historyOf(30)).to.deep.equal({ n: 5, sum: 10 }); // 4 temperatures and a count
  });

  it("when a batch is replayed, then history is unchanged (count and sum) and nothing is reported touched", async () => {
    const rows = [0, 1, 2, 3].map((i) => row(2, "temperature", hoursAgo(10 - i), { value_decimal: 10 + i }));
    await flush(db.pool, randomUUID(), rows);
    const before = await historyOf(2);
    const beforeProjection = await projection(2);
    const touched = await flush(db.pool, randomUUID(), rows);
    expect(await historyOf(2)).to.deep.equal(before);
    expect(before).to.deep.equal({ n: 4, sum: 46 });
    expect(touched).to.deep.equal([]);
    expect(await projection(2)).to.deep.equal(beforeProjection);
  });

  it("when a late reading arrives, then it goes into history but the hot and latest values stay the newer ones", async () => {
    await flush(db.pool, randomUUID(), [row(3, "temperature", hoursAgo(1), { value_decimal: 30 })]);
    const touched = await flush(db.pool, randomUUID(), [
      row(3, "temperature", hoursAgo(5), { value_decimal: -99 }),
      row(3, "firmware", hoursAgo(5), { value_string: "0.9" }),
    ]);
    const p = await projection(3);
    expect(p.hot.temperature).to.equal(30);
    expect(p.latest.temperature.v).to.equal(30);
    // The late batch still brought a first value of another attribute.
    expect(p.latest.firmware.v).to.equal("0.9");
    expect(touched).to.have.length(1);
    expect((await historyOf(3)).n).to.equal(3);
  });

  it("when only late readings arrive, then the projection row is not rewritten and nothing is reported touched", async () => {
    const before = await projection(3);
    const touched = await flush(db.pool, randomUUID(), [row(3, "temperature", hoursAgo(6), { value_decimal: -1 })]);
    expect(touched).to.deep.equal([]);
    expect(await projection(3)).to.deep.equal(before);
  });

  it("when a newer reading arrives, then hot, latest and updated_at take it", async () => {
    const ts = hoursAgo(0.5);
    await flush(db.pool, randomUUID(), [row(3, "temperature", ts, { value_decimal: 31 })]);
    const p = await projection(3);
    expect(p.hot.temperature).to.equal(31);
    expect(p.latest.temperature).to.deep.equal({ v: 31, ts });
    expect(p.updated_at.toISOString()).to.equal(ts);
  });

  it("when one batch holds several readings of an attribute, then the newest device time wins whatever the order", async () => {
    await flush(db.pool, randomUUID(), [
      row(4, "temperature", hoursAgo(1), { value_decimal: 2 }),
      row(4, "temperature", hoursAgo(0.1), { value_decimal: 3 }),
      row(4, "temperature", hoursAgo(2), { value_decimal: 1 }),
    ]);
    expect((await projection(4)).hot.temperature).to.equal(3);
  });

  it("when a cold attribute is read, then it is in latest but not in hot", async () => {
    await flush(db.pool, randomUUID(), [row(5, "firmware", hoursAgo(1), { value_string: "2.0" })]);
    const p = await projection(5);
    expect(p.hot).to.deep.equal({});
    expect(p.latest.firmware.v).to.equal("2.0");
  });

  it("when a value sits in the wrong typed column for its attribute, then the batch is refused naming the attribute and nothing is stored", async () => {
    const batch = randomUUID();
    const err = await flush(db.pool, batch, [
      row(6, "count", hoursAgo(1), { value_int: 1 }),
      row(6, "temperature", hoursAgo(1), { value_string: "hot" }),
    ]).then(() => null, (e: { code?: string; message: string }) => e);
    expect(err?.code).to.equal("AT002");
    expect(err?.message).to.contain('attribute "temperature"').and.contain("is decimal").and.contain("as string");
    expect((await historyOf(6)).n).to.equal(0);
    expect(await projection(6)).to.equal(undefined);
  });

  it("when a staged value fills two value columns, then the batch is refused naming the attribute", async () => {
    const err = await flush(db.pool, randomUUID(), [row(6, "count", hoursAgo(1), { value_int: 1, value_decimal: 1 })]).then(
      () => null,
      (e: { code?: string; message: string }) => e,
    );
    expect(err?.code).to.equal("AT002");
    expect(err?.message).to.contain('attribute "count"');
  });

  it("when a decimal value is not finite, then the batch is refused naming the attribute", async () => {
    const err = await flush(db.pool, randomUUID(), [row(6, "temperature", hoursAgo(1), { value_decimal: "NaN" as unknown as number })]).then(
      () => null,
      (e: { code?: string; message: string }) => e,
    );
    expect(err?.code).to.equal("AT002");
    expect(err?.message).to.contain('attribute "temperature"').and.contain("not a finite number");
  });

  it("when an int is beyond what a JSON number carries exactly, then the projection holds it as a string and history as bigint", async () => {
    const big = "9007199254740993";
    const c = await db.pool.connect();
    try {
      await c.query("BEGIN");
      await c.query("SET LOCAL ROLE atlas_writer");
      const batch = randomUUID();
      await c.query(
        `INSERT INTO entity_values_staging (batch_id, tenant_id, entity_id, entity_type, attribute_id, ts, received_at, value_int)
         VALUES ($1, $2, 8, 'sensor', $3, now(), now(), $4::bigint)`,
        [batch, tenant, attr.count, big],
      );
      await c.query("SELECT * FROM stage_flush($1)", [batch]);
      await c.query("COMMIT");
    } finally {
      c.release();
    }
    const p = await projection(8);
    expect(p.hot.count).to.equal(big);
    const h = await db.pool.query("SELECT value_int::text AS v FROM entity_values_ts WHERE tenant_id = $1 AND entity_id = 8", [tenant]);
    expect(h.rows[0].v).to.equal(big);
  });

  it("when a staged attribute id is not the tenant's, then the batch is refused", async () => {
    const other = (await createTenant(db.pool, "other-tenant")).tenant_id;
    const err = await flush(db.pool, randomUUID(), [
      { tenant_id: other, entity_id: 1, attribute_id: attr.count, ts: hoursAgo(1), value_int: 1 },
    ]).then(() => null, (e: { code?: string; message: string }) => e);
    expect(err?.code).to.equal("AT003");
  });

  it("when an attribute's data type is changed, then the change is refused naming the attribute", async () => {
    const err = await db.pool
      .query("UPDATE attributes SET data_type = 'string' WHERE tenant_id = $1 AND name = 'temperature'", [tenant])
      .then(() => null, (e: { code?: string; message: string }) => e);
    expect(err?.code).to.equal("AT001");
    expect(err?.message).to.contain('attribute "temperature"').and.contain("decimal");
    // is_hot may change.
    const ok = await db.pool.query("UPDATE attributes SET is_hot = true WHERE tenant_id = $1 AND name = 'firmware'", [tenant]);
    expect(ok.rowCount).to.equal(1);
  });

  it("when an attribute flips cold to hot, then atlas_sync_hot_attribute backfills hot from latest, and back to cold removes it", async () => {
    await db.pool.query("UPDATE attributes SET is_hot = true WHERE tenant_id = $1 AND name = 'firmware'", [tenant]);
    const n = await db.pool.query("SELECT atlas_sync_hot_attribute($1, 'firmware') AS n", [tenant]);
    expect(Number(n.rows[0].n)).to.be.greaterThan(0);
    expect((await projection(5)).hot).to.deep.equal({ firmware: "2.0" });
    await db.pool.query("UPDATE attributes SET is_hot = false WHERE tenant_id = $1 AND name = 'firmware'", [tenant]);
    await db.pool.query("SELECT atlas_sync_hot_attribute($1, 'firmware')", [tenant]);
    expect((await projection(5)).hot).to.deep.equal({});
  });

  it("when a reading is for a far-past month with no partition, then it lands in the default partition and is found", async () => {
    const ts = `${new Date(Date.now() - 90 * 86_400_000).toISOString().slice(0, 10)}T12:00:00.000Z`;
    await flush(db.pool, randomUUID(), [row(7, "temperature", ts, { value_decimal: 5 })]);
    const { rows } = await db.pool.query(
      "SELECT tableoid::regclass::text AS part, value_decimal FROM entity_values_ts WHERE tenant_id = $1 AND entity_id = 7 AND ts = $2",
      [tenant, ts],
    );
    expect(rows).to.deep.equal([{ part: "entity_values_ts_default", value_decimal: 5 }]);
  });

  it("when atlas_heartbeat() is called, then the one heartbeat row advances", async () => {
    const first = (await db.pool.query("SELECT * FROM atlas_heartbeat()")).rows[0];
    const second = (await db.pool.query("SELECT * FROM atlas_heartbeat()")).rows[0];
    expect(Number(second.beat_seq)).to.equal(Number(first.beat_seq) + 1);
    const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM replication_heartbeat");
    expect(rows[0].n).to.equal(1);
  });
  it("when two writers flush overlapping batches at once, then neither deadlocks and the newest reading wins", async () => {
    const entities = Array.from({ length: 200 }, (_, i) => 1000 + i);
    const older = hoursAgo(2);
    const newer = hoursAgo(1);
    // Opposite entity orders in the two batches: without a fixed lock order this deadlocks.
    const batchA = entities.map((e) => row(e, "temperature", newer, { value_decimal: 2 }));
    const batchB = [...entities].reverse().map((e) => row(e, "temperature", older, { value_decimal: 1 }));
    await Promise.all([flush(db.pool, randomUUID(), batchA), flush(db.pool, randomUUID(), batchB)]);
    const { rows } = await db.pool.query(
      "SELECT DISTINCT (hot->>'temperature')::float AS t FROM entity_jsonb WHERE tenant_id = $1 AND entity_id BETWEEN 1000 AND 1199",
      [tenant],
    );
    expect(rows).to.deep.equal([{ t: 2 }]);
  });

  it("when the writer COPYs into staging, then COPY is accepted for atlas_writer and refused to atlas_app", async () => {
    const batch = randomUUID();
    const line = `${batch}\t${tenant}\t9\tsensor\t${attr.count}\t${hoursAgo(1)}\t${hoursAgo(0)}\t5\t\\N\t\\N\t\\N\t\\N\n`;
    const sql =
      "COPY entity_values_staging (batch_id, tenant_id, entity_id, entity_type, attribute_id, ts, received_at, value_int, value_decimal, value_bool, value_string, value_ts) FROM STDIN";
    const c = await db.pool.connect();
    try {
      await c.query("BEGIN");
      await c.query("SET LOCAL ROLE atlas_writer");
      await pipeline(Readable.from([line]), c.query(copyFrom(sql)));
      const touched = await c.query("SELECT * FROM stage_flush($1)", [batch]);
      await c.query("COMMIT");
      expect(touched.rows).to.deep.equal([{ tenant_id: tenant, entity_id: "9" }]);
      await c.query("BEGIN");
      await c.query("SET LOCAL ROLE atlas_app");
      const refused = await pipeline(Readable.from([line]), c.query(copyFrom(sql))).then(
        () => null,
        (e: Error) => e,
      );
      expect(refused?.message).to.match(/permission denied/);
    } finally {
      await c.query("ROLLBACK").catch(() => undefined);
      c.release();
    }
    expect((await projection(9)).hot.count).to.equal(5);
  });
});
