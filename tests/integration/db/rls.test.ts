import { expect } from "chai";
import { randomUUID } from "crypto";
import { createTenant } from "../../../app/shared/tenants";
import { asTenant, flush, useTestDatabase } from "../../helpers/db";

/** Tenant isolation is the database's job: hand-written SQL as atlas_app must not cross tenants. */
describe("db: row-level security (real PostgreSQL)", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  let a: string;
  let b: string;
  const TENANT_TABLES = ["tenants", "api_keys", "attributes", "entities", "entity_values_ts", "entity_latest", "entity_jsonb"];

  before(async () => {
    a = (await createTenant(db.pool, "tenant-a")).tenant_id;
    b = (await createTenant(db.pool, "tenant-b")).tenant_id;
    for (const t of [a, b]) {
      const { rows } = await db.pool.query(
        `INSERT INTO attributes (tenant_id, name, data_type, is_hot) VALUES ($1, 'temperature', 'decimal', true) RETURNING attribute_id`,
        [t],
      );
      await flush(db.pool, randomUUID(), [
        { tenant_id: t, entity_id: 1, attribute_id: rows[0].attribute_id, ts: new Date().toISOString(), value_decimal: 20 },
      ]);
    }
  });

  it("when tenant A reads any tenant table, then it sees only its own rows", async () => {
    await asTenant(db.pool, a, async (c) => {
      for (const table of TENANT_TABLES) {
        const { rows } = await c.query(`SELECT DISTINCT tenant_id FROM ${table}`);
        expect(rows.map((r) => r.tenant_id), table).to.deep.equal([a]);
      }
    });
  });

  it("when tenant A asks for tenant B's rows by id, then it gets nothing", async () => {
    await asTenant(db.pool, a, async (c) => {
      for (const table of TENANT_TABLES) {
        const { rowCount } = await c.query(`SELECT 1 FROM ${table} WHERE tenant_id = $1`, [b]);
        expect(rowCount, table).to.equal(0);
      }
    });
  });

  it("when no tenant is set, then every tenant table looks empty", async () => {
    await asTenant(db.pool, null, async (c) => {
      for (const table of TENANT_TABLES) {
        const { rowCount } = await c.query(`SELECT 1 FROM ${table}`);
        expect(rowCount, table).to.equal(0);
      }
    });
    // An empty setting (a pooled connection after a tenant transaction) is the same.
    await asTenant(db.pool, "", async (c) => {
      const { rowCount } = await c.query("SELECT 1 FROM entity_jsonb");
      expect(rowCount).to.equal(0);
    });
  });

  it("when tenant A updates or deletes tenant B's rows, then nothing changes", async () => {
    await asTenant(db.pool, a, async (c) => {
      const upd = await c.query("UPDATE attributes SET is_hot = false WHERE tenant_id = $1", [b]);
      const updJ = await c.query(`UPDATE entity_jsonb SET hot = '{}' WHERE tenant_id = $1`, [b]);
      const delE = await c.query("DELETE FROM entities WHERE tenant_id = $1", [b]);
      const delH = await c.query("DELETE FROM entity_values_ts WHERE tenant_id = $1", [b]);
      const delK = await c.query("DELETE FROM api_keys WHERE tenant_id = $1", [b]);
      expect([upd.rowCount, updJ.rowCount, delE.rowCount, delH.rowCount, delK.rowCount]).to.deep.equal([0, 0, 0, 0, 0]);
    });
    const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM entities WHERE tenant_id = $1", [b]);
    expect(rows[0].n).to.equal(1);
  });

  it("when tenant A inserts a row for tenant B or moves its own row to B, then the policy refuses it", async () => {
    await asTenant(db.pool, a, async (c) => {
      await c.query("SAVEPOINT s");
      const insert = await c
        .query(`INSERT INTO attributes (tenant_id, name, data_type) VALUES ($1, 'sneaky', 'int')`, [b])
        .then(() => null, (err: Error) => err);
      expect(insert?.message).to.match(/row-level security/);
      await c.query("ROLLBACK TO SAVEPOINT s");
      const move = await c
        .query("UPDATE entities SET entity_type = 'x', tenant_id = $1", [b])
        .then(() => null, (err: Error) => err);
      // atlas_app has no UPDATE on tenant_id at all; either refusal keeps the row with A.
      expect(move?.message).to.match(/permission denied|row-level security/);
    });
  });

  it("when tenant A names a history partition or the staging table directly, then permission is denied", async () => {
    await asTenant(db.pool, a, async (c) => {
      await c.query("SAVEPOINT s");
      const part = await c.query("SELECT * FROM entity_values_ts_default").then(() => null, (err: Error) => err);
      expect(part?.message).to.match(/permission denied/);
      await c.query("ROLLBACK TO SAVEPOINT s");
      const staging = await c.query("SELECT * FROM entity_values_staging").then(() => null, (err: Error) => err);
      expect(staging?.message).to.match(/permission denied/);
    });
  });

  it("when tenant A inserts a key that conflicts with one of tenant B's unique keys, then no conflict reveals B's row", async () => {
    // B already has an attribute "temperature"; uniqueness is per tenant, so A's insert of
    // its own "temperature" only conflicts with A's row — never with B's, which A cannot see.
    await asTenant(db.pool, a, async (c) => {
      await c.query("SAVEPOINT s");
      const dup = await c
        .query(`INSERT INTO attributes (tenant_id, name, data_type) VALUES ($1, 'temperature', 'int')`, [a])
        .then(() => null, (err: { constraint?: string; detail?: string }) => err);
      expect(dup?.constraint).to.equal("attributes_tenant_id_name_key");
      // PostgreSQL also omits the key values from the message under RLS.
      expect(dup?.detail ?? "").to.not.contain(b);
      await c.query("ROLLBACK TO SAVEPOINT s");
      // The same key hash as one of B's keys is accepted for A: api_keys is unique per tenant.
      const { rows } = await db.pool.query("SELECT key_hash FROM api_keys WHERE tenant_id = $1", [b]);
      const ok = await c.query("INSERT INTO api_keys (tenant_id, key_hash) VALUES ($1, $2)", [a, rows[0].key_hash]);
      expect(ok.rowCount).to.equal(1);
    });
  });

  it("when tenant A tries to change its own settings through atlas_app, then permission is denied", async () => {
    await asTenant(db.pool, a, async (c) => {
      const err = await c.query("UPDATE tenants SET rate_limit_rps = 1000000").then(() => null, (e: Error) => e);
      expect(err?.message).to.match(/permission denied/);
    });
  });

  it("when the row-level security setup is inspected, then every tenant table has RLS enabled and forced", async () => {
    const { rows } = await db.pool.query(
      `SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
       WHERE relname = ANY($1) AND relnamespace = 'public'::regnamespace ORDER BY relname`,
      [TENANT_TABLES],
    );
    expect(rows).to.have.length(TENANT_TABLES.length);
    for (const r of rows) expect([r.relname, r.relrowsecurity, r.relforcerowsecurity]).to.deep.equal([r.relname, true, true]);
    const roles = await db.pool.query(
      "SELECT rolname, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname IN ('atlas_app','atlas_writer') ORDER BY 1",
    );
    expect(roles.rows).to.deep.equal([
      { rolname: "atlas_app", rolbypassrls: false, rolcanlogin: false },
      { rolname: "atlas_writer", rolbypassrls: true, rolcanlogin: false },
    ]);
  });
});
