import { expect } from "chai";
import { createHash } from "crypto";
import { readdirSync } from "fs";
import { join } from "path";
import { createTableStatements, migrationStatements, renderDdl, validateTable } from "../../../db/warehouse/ddl";
import { DIALECTS, dialectOfVersion, type Dialect } from "../../../db/warehouse/dialect";
import { runnerSql } from "../../../db/warehouse/migrate";
import { MIGRATIONS, schemaAfter } from "../../../db/warehouse/migrations";
import { checkRedshiftStatement, type ParsedTable } from "../../../db/warehouse/redshift-grammar";
import type { Table } from "../../../db/warehouse/schema";

/** Every statement a migration run sends to a warehouse of `dialect`, runner's own included. */
function allStatements(dialect: Dialect): string[] {
  const r = runnerSql(dialect);
  return [...r.createTable, r.lock, r.isApplied, r.record, r.versions, ...MIGRATIONS.flatMap((m) => migrationStatements(m, dialect))];
}

/** The CREATE TABLEs of a dialect's migrations, read back by the grammar's parser. */
function createdTables(dialect: Dialect): ParsedTable[] {
  return MIGRATIONS.flatMap((m) => migrationStatements(m, dialect))
    .map((s) => checkRedshiftStatement(s).table)
    .filter((t): t is ParsedTable => t !== undefined);
}

/** The last CREATE TABLE of each name: the table as the current schema has it. */
const finalTable = (tables: ParsedTable[], name: string) => tables.filter((t) => t.name === name).pop();

describe("warehouse DDL on Redshift", () => {
  it("when the Redshift DDL is rendered, then every statement the migration run sends is in Redshift's documented grammar", () => {
    const problems = allStatements("redshift").flatMap((s) => checkRedshiftStatement(s).problems.map((p) => `${p}\n  in: ${s.slice(0, 80)}`));
    expect(problems).to.deep.equal([]);
  });

  it("when the Redshift DDL is rendered, then it creates no index, takes no lock mode and has no ON CONFLICT", () => {
    const ddl = allStatements("redshift").join(";\n");
    expect(ddl).not.to.match(/CREATE\s+(UNIQUE\s+)?INDEX/i);
    expect(ddl).not.to.match(/\bIN\s+(\w+\s+)*MODE\b/i);
    expect(ddl).not.to.match(/ON\s+CONFLICT/i);
    expect(runnerSql("redshift").lock).to.equal("LOCK warehouse_migrations");
  });

  it("when the Redshift DDL is rendered, then facts and current state are distributed by entity and sorted for their scans, dimensions copied to every node", () => {
    const tables = createdTables("redshift");
    expect(finalTable(tables, "fact_readings")).to.deep.include({
      distStyle: "KEY",
      distKey: "entity_id",
      sortKey: { style: "COMPOUND", columns: ["tenant_id", "attribute_id", "ts"] },
    });
    expect(finalTable(tables, "current_state")).to.deep.include({
      distStyle: "KEY",
      distKey: "entity_id",
      sortKey: { style: "COMPOUND", columns: ["tenant_id", "entity_id"] },
    });
    for (const dim of ["dim_tenants", "dim_attributes", "dim_entities"]) expect(finalTable(tables, dim)?.distStyle, dim).to.equal("ALL");
  });

  it("when the server's version() names Redshift, then the dialect is redshift; PostgreSQL's is postgres", () => {
    const redshift = "PostgreSQL 8.0.2 on i686-pc-linux-gnu, compiled by GCC gcc (GCC) 3.4.2 20041017 (Red Hat 3.4.2-6.fc3), Redshift 1.0.77467";
    expect(dialectOfVersion(redshift)).to.equal("redshift");
    expect(dialectOfVersion("PostgreSQL 15.10 (Debian 15.10-1.pgdg120+1) on x86_64-pc-linux-gnu")).to.equal("postgres");
  });
});

describe("warehouse DDL in both dialects", () => {
  it("when both dialects are rendered, then they create the same tables, in the same order, with the same columns, types, nullability and primary keys", () => {
    const shape = (d: Dialect) => createdTables(d).map(({ name, columns, primaryKey }) => ({ name, columns, primaryKey }));
    expect(shape("redshift")).to.deep.equal(shape("postgres"));
    expect(shape("postgres")).to.have.length(9);
  });

  it("when PostgreSQL is rendered, then it keeps its indexes and its own lock mode; Redshift's rendering has neither", () => {
    const pg = allStatements("postgres");
    expect(pg.filter((s) => s.startsWith("CREATE INDEX")).map((s) => s.split(" ")[2])).to.deep.equal([
      "fact_readings_attribute_ts",
      "fact_readings_tenant_day",
      "dim_attributes_name",
      "dim_entities_type",
    ]);
    expect(runnerSql("postgres").lock).to.equal("LOCK TABLE warehouse_migrations IN EXCLUSIVE MODE");
    expect(renderDdl("postgres")).not.to.match(/DISTSTYLE|SORTKEY|DISTKEY/);
  });

  it("when the landed migrations are rendered, then each is what it was when it landed (change the schema with a new migration)", () => {
    // Warehouses record a version once and never rerun it: a changed
    // rendering would give fresh warehouses a schema the existing ones lack.
    const landed: Record<string, Record<Dialect, string>> = {
      "0001_warehouse.sql": { postgres: "4ad942c89bd3f895", redshift: "9db097f472da5213" },
      "0002_current_state_by_attribute.sql": { postgres: "6d5d6aca4d6b91ce", redshift: "895fcc0f7eec35f5" },
    };
    for (const m of MIGRATIONS.filter((x) => landed[x.version])) {
      for (const d of DIALECTS) {
        const text = migrationStatements(m, d).map((s) => s.replace(/\s+/g, " ").trim()).join(";\n");
        expect(createHash("sha256").update(text).digest("hex").slice(0, 16), `${m.version} (${d})`).to.equal(landed[m.version][d]);
      }
    }
  });

  it("when every migration has run, then the warehouse holds the tables the loader and the analytics read", () => {
    expect([...schemaAfter().keys()].sort()).to.deep.equal([
      "agg_attribute_histogram",
      "agg_attribute_stats",
      "current_state",
      "dim_attributes",
      "dim_entities",
      "dim_tenants",
      "fact_readings",
      "loader_watermarks",
    ]);
    expect(new Set(MIGRATIONS.map((m) => m.version)).size, "versions are unique").to.equal(MIGRATIONS.length);
  });
});

describe("warehouse migration files", () => {
  const dir = join(__dirname, "../../../db/warehouse");

  it("when db/warehouse holds a .sql file, then that is a mistake: the runner reads only migrations/, rendered per dialect", () => {
    const sql = readdirSync(dir).filter((f) => f.endsWith(".sql"));
    expect(sql, "write it as db/warehouse/migrations/NNNN_<name>.ts and list it in migrations/index.ts").to.deep.equal([]);
  });

  it("when a migration file exists, then migrations/index.ts lists it, in number order", () => {
    const files = readdirSync(join(dir, "migrations")).filter((f) => /^\d{4}_.+\.ts$/.test(f)).sort();
    expect(MIGRATIONS.map((m) => m.version.slice(0, 4))).to.deep.equal(files.map((f) => f.slice(0, 4)));
  });
});

describe("warehouse table descriptions", () => {
  const table = (over: Partial<Table>): Table => ({
    name: "t",
    columns: [{ name: "id", type: "bigint", notNull: true }],
    primaryKey: ["id"],
    redshift: { distStyle: "auto" },
    ...over,
  });

  it("when a distribution key is given without DISTSTYLE KEY, then rendering fails naming the table", () => {
    expect(() => validateTable(table({ redshift: { distStyle: "all", distKey: "id" } }))).to.throw(/warehouse table t: .*distKey/);
  });

  it("when a sort key or index names a missing column, then rendering fails naming it", () => {
    expect(() => validateTable(table({ redshift: { distStyle: "auto", sortKey: { style: "compound", columns: ["nope"] } } }))).to.throw(/nope/);
    expect(() => validateTable(table({ postgresIndexes: [{ name: "t_x", columns: ["x"] }] }))).to.throw(/index t_x .* x/);
  });

  it("when a varchar is longer than Redshift's 65535 bytes, or a key column is nullable, then rendering fails", () => {
    expect(() => validateTable(table({ columns: [{ name: "id", type: "varchar(65536)", notNull: true }] }))).to.throw(/65535/);
    expect(() => validateTable(table({ columns: [{ name: "id", type: "bigint" }] }))).to.throw(/notNull/);
  });

  it("when asked for IF NOT EXISTS, then both the table and PostgreSQL's indexes say so", () => {
    const s = createTableStatements(table({ postgresIndexes: [{ name: "t_id", columns: ["id"] }] }), "postgres", { ifNotExists: true });
    expect(s).to.deep.equal(["CREATE TABLE IF NOT EXISTS t (\n  id bigint NOT NULL,\n  PRIMARY KEY (id)\n)", "CREATE INDEX IF NOT EXISTS t_id ON t (id)"]);
  });
});

describe("the Redshift grammar check", () => {
  const problemsOf = (sql: string) => checkRedshiftStatement(sql).problems;

  it("when given the CREATE TABLE and LOCK examples of the Redshift docs, then it finds no problem", () => {
    // r_CREATE_TABLE_examples.html and r_LOCK.html
    expect(
      problemsOf(
        `create table sales(salesid integer not null, listid integer not null, sellerid integer not null,
         eventid integer not null encode mostly16, dateid smallint not null, pricepaid decimal(8,2) encode delta32k,
         saletime timestamp, primary key(salesid), foreign key(listid) references listing(listid))
         distkey(listid) compound sortkey(listid,sellerid)`,
      ),
    ).to.deep.equal([]);
    expect(problemsOf("create table customer_interleaved (c_custkey integer not null, c_city varchar(10) not null) diststyle all interleaved sortkey (c_custkey, c_city)")).to.deep.equal([]);
    expect(problemsOf("lock event, sales")).to.deep.equal([]);
  });

  it("when given PostgreSQL-only SQL, then it names each thing Redshift would reject", () => {
    expect(problemsOf("CREATE INDEX t_a ON t (a)")).to.have.length(1);
    expect(problemsOf("LOCK TABLE t IN EXCLUSIVE MODE")[0]).to.match(/no mode/);
    expect(problemsOf("CREATE TABLE t (id uuid PRIMARY KEY)")[0]).to.match(/UUID is not a Redshift data type/);
    expect(problemsOf("CREATE TABLE t (note text)")[0]).to.match(/TEXT is VARCHAR\(256\)/);
    expect(problemsOf("CREATE TABLE t (partition int)")[0]).to.match(/reserved word/);
    expect(problemsOf("CREATE TABLE t (a int) DISTSTYLE ALL DISTKEY (a)")[0]).to.match(/DISTSTYLE KEY/);
    expect(problemsOf("CREATE TABLE t (a int) SORTKEY (a) DISTKEY (a)")[0]).to.match(/after the table attributes/);
    const dml = problemsOf("INSERT INTO t (a, b) SELECT x::jsonb, now() FROM s ON CONFLICT DO NOTHING RETURNING a");
    expect(dml.join("\n")).to.match(/JSONB/).and.match(/NOW/).and.match(/ON CONFLICT/).and.match(/RETURNING/);
    expect(problemsOf("SELECT count(*) FILTER (WHERE a) FROM t")[0]).to.match(/FILTER/);
    expect(problemsOf("CREATE EXTENSION pg_partman")[0]).to.match(/not a statement/);
  });
});
