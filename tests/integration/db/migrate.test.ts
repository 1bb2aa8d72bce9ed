import { expect } from "chai";
import { Pool } from "pg";
import { loadMigrations, migrate, MigrationError } from "../../../db/migrate";
import { createTestDatabase, TestDatabase } from "../../helpers/db";

const ALL = loadMigrations().map((m) => m.version);

describe("db: migration runner (real PostgreSQL)", function () {
  this.timeout(120_000);
  let db: TestDatabase | undefined;
  afterEach(async () => {
    await db?.drop();
    db = undefined;
  });

  it("when run on an empty database, then it applies every migration, and a second run applies none", async () => {
    db = await createTestDatabase({ migrate: false });
    const first = await migrate(db.url);
    const second = await migrate(db.pool);
    expect(first.applied).to.deep.equal(ALL);
    expect(second.applied).to.deep.equal([]);
    const { rows } = await db.pool.query("SELECT version FROM schema_migrations ORDER BY version");
    expect(rows.map((r) => r.version)).to.deep.equal(ALL);
  });

  it("when five runners start at once, then each migration is applied exactly once", async () => {
    db = await createTestDatabase({ migrate: false });
    const pools = Array.from({ length: 5 }, () => new Pool({ connectionString: db!.url, max: 1 }));
    try {
      const results = await Promise.all(pools.map((p) => migrate(p)));
      const applied = results.flatMap((r) => r.applied).sort();
      expect(applied).to.deep.equal(ALL);
      const { rows } = await db.pool.query("SELECT version, count(*)::int AS n FROM schema_migrations GROUP BY version");
      expect(rows.every((r) => r.n === 1)).to.equal(true);
      expect(rows).to.have.length(ALL.length);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it("when the pool has a statement timeout, then a runner waiting for another one's lock still completes and the timeout is restored", async () => {
    db = await createTestDatabase({ migrate: false });
    const holder = new Pool({ connectionString: db.url, max: 1 });
    const timed = new Pool({ connectionString: db.url, max: 1, statement_timeout: 200 });
    try {
      const c = await holder.connect();
      await c.query("SELECT pg_advisory_lock(7270000001)");
      const waiting = migrate(timed);
      await new Promise((r) => setTimeout(r, 600));
      await c.query("SELECT pg_advisory_unlock(7270000001)");
      c.release();
      expect((await waiting).applied).to.deep.equal(ALL);
      const { rows } = await timed.query("SHOW statement_timeout");
      expect(rows[0].statement_timeout).to.equal("200ms");
    } finally {
      await holder.end();
      await timed.end();
    }
  });

  it("when the database has a migration the code does not know, then the runner refuses to run", async () => {
    db = await createTestDatabase();
    await db.pool.query("INSERT INTO schema_migrations (version, name, checksum) VALUES ('999999', 'from_the_future', 'x')");
    let error: unknown;
    try {
      await migrate(db.pool);
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(MigrationError);
    expect((error as Error).message).to.match(/999999_from_the_future.*does not know/);
  });

  it("when a migration fails, then its transaction is rolled back and it is not recorded", async () => {
    db = await createTestDatabase({ migrate: false });
    // 000002 creates `attributes`; a table of that name already exists.
    await db.pool.query("CREATE TABLE attributes (x int)");
    let error: unknown;
    try {
      await migrate(db.pool);
    } catch (err) {
      error = err;
    }
    expect((error as Error).message).to.match(/000002_tenants\.sql failed/);
    const { rows } = await db.pool.query("SELECT version FROM schema_migrations ORDER BY version");
    expect(rows.map((r) => r.version)).to.deep.equal(["000001"]);
    const tenants = await db.pool.query("SELECT to_regclass('tenants') AS t");
    expect(tenants.rows[0].t).to.equal(null);
  });
});
