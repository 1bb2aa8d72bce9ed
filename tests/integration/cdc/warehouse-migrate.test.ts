/**
 * The PostgreSQL rendering of the warehouse schema on the stack's server: a
 * fresh database, the stack's own warehouse (migrated by the .sql files this
 * rendering replaced), concurrent runners, and a warehouse ahead of the code.
 */
import { expect } from "chai";
import { Pool } from "pg";
import { detectDialect } from "../../../db/warehouse/dialect";
import { migrateWarehouse, MIGRATIONS_TABLE } from "../../../db/warehouse/migrate";
import { MIGRATIONS, schemaAfter } from "../../../db/warehouse/migrations";
import type { ColumnType } from "../../../db/warehouse/schema";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { requireStackVar } from "../../helpers/stack-env";

interface CatalogTable {
  columns: { name: string; type: string; notNull: boolean }[];
  primaryKey: string[];
  indexes: { name: string; columns: string[] }[];
}

/** The public tables of a database as its catalog has them. */
async function catalog(pool: Pool): Promise<Record<string, CatalogTable>> {
  const cols = await pool.query<{ tbl: string; name: string; type: string; not_null: boolean }>(
    `SELECT c.relname AS tbl, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY c.relname, a.attnum`,
  );
  const idx = await pool.query<{ tbl: string; name: string; is_pk: boolean; columns: string[] }>(
    `SELECT t.relname AS tbl, i.relname AS name, x.indisprimary AS is_pk,
            array(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord) AS columns
     FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
     JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE n.nspname = 'public' ORDER BY t.relname, i.relname`,
  );
  const out: Record<string, CatalogTable> = {};
  for (const c of cols.rows) (out[c.tbl] ??= { columns: [], primaryKey: [], indexes: [] }).columns.push({ name: c.name, type: c.type, notNull: c.not_null });
  for (const i of idx.rows) {
    if (i.is_pk) out[i.tbl].primaryKey = i.columns;
    else out[i.tbl].indexes.push({ name: i.name, columns: i.columns });
  }
  return out;
}

/** PostgreSQL's own spelling of a portable type (format_type). */
const pgType = (t: ColumnType): string =>
  t === "int" ? "integer" : t === "timestamptz" ? "timestamp with time zone" : t === "timestamp" ? "timestamp without time zone" : t.replace(/^varchar/, "character varying");

/** What the schema description says the catalog must hold. */
function expectedCatalog(): Record<string, CatalogTable> {
  const out: Record<string, CatalogTable> = {};
  for (const t of [...schemaAfter().values(), MIGRATIONS_TABLE]) {
    out[t.name] = {
      columns: t.columns.map((c) => ({ name: c.name, type: pgType(c.type), notNull: c.notNull ?? false })),
      primaryKey: t.primaryKey,
      indexes: (t.postgresIndexes ?? []).map((ix) => ({ name: ix.name, columns: ix.columns })).sort((a, b) => a.name.localeCompare(b.name)),
    };
  }
  return out;
}

const ALL_VERSIONS = MIGRATIONS.map((m) => m.version);

describe("warehouse migrations on PostgreSQL", function () {
  this.timeout(120_000);
  const made: TestDatabase[] = [];
  const fresh = async () => {
    const db = await createTestDatabase({ migrate: false });
    made.push(db);
    return db;
  };
  after(async () => {
    await Promise.all(made.map((db) => db.drop()));
  });

  it("when a fresh database is migrated, then it holds exactly the described tables, columns, types, keys and indexes", async () => {
    const db = await fresh();
    expect(await detectDialect(db.pool)).to.equal("postgres");
    expect(await migrateWarehouse(db.pool)).to.deep.equal(ALL_VERSIONS);
    expect(await catalog(db.pool)).to.deep.equal(expectedCatalog());
    expect(await migrateWarehouse(db.pool, { dialect: "postgres" }), "a second run applies nothing").to.deep.equal([]);
  });

  it("when the stack's warehouse (migrated by the former .sql files) is migrated, then nothing is applied and it matches the description", async () => {
    const wh = new Pool({ connectionString: requireStackVar("WAREHOUSE_URL"), max: 2 });
    try {
      await migrateWarehouse(wh); // a brand-new stack may not have run them yet
      expect(await migrateWarehouse(wh)).to.deep.equal([]);
      const { rows } = await wh.query<{ version: string }>("SELECT version FROM warehouse_migrations ORDER BY version");
      expect(rows.map((r) => r.version)).to.deep.equal(ALL_VERSIONS);
      expect(await catalog(wh)).to.deep.equal(expectedCatalog());
    } finally {
      await wh.end();
    }
  });

  it("when 10 runners migrate one fresh database at once, then each migration is applied exactly once", async () => {
    const db = await fresh();
    const pools = Array.from({ length: 10 }, () => new Pool({ connectionString: db.url, max: 1 }));
    try {
      const applied = (await Promise.all(pools.map((p) => migrateWarehouse(p)))).flat();
      expect(applied.sort()).to.deep.equal(ALL_VERSIONS);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it("when the warehouse records a migration this code does not know, then migrating refuses, naming it", async () => {
    const db = await fresh();
    await migrateWarehouse(db.pool);
    await db.pool.query("INSERT INTO warehouse_migrations (version, applied_at) VALUES ('9999_from_the_future.sql', now())");
    let error: Error | undefined;
    await migrateWarehouse(db.pool).catch((e: Error) => (error = e));
    expect(error?.message).to.match(/ahead of this code.*9999_from_the_future\.sql/);
  });
});
