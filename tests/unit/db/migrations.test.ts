import { expect } from "chai";
import { mkdtempSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import path from "path";
import { loadMigrations, MigrationError } from "../../../db/migrate";

describe("db: migration files", () => {
  it("when the migrations are loaded, then they are numbered 000001, 000002, … without gaps", () => {
    const versions = loadMigrations().map((m) => m.version);
    expect(versions.length).to.be.greaterThan(0);
    versions.forEach((v, i) => expect(v).to.equal(String(i + 1).padStart(6, "0")));
  });

  it("when every table the brief names is looked for, then a migration creates it", () => {
    const sql = loadMigrations().map((m) => m.sql).join("\n");
    for (const table of ["tenants", "api_keys", "attributes", "entities", "entity_values_ts", "entity_values_staging", "entity_latest", "entity_jsonb", "replication_heartbeat"]) {
      expect(sql).to.match(new RegExp(`CREATE (UNLOGGED )?TABLE ${table} \\(`), table);
    }
  });

  it("when a file name does not follow NNNNNN_<name>.sql, then loading fails naming it", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "atlas-mig-"));
    writeFileSync(path.join(dir, "1_oops.sql"), "SELECT 1;");
    expect(() => loadMigrations(dir)).to.throw(MigrationError, /1_oops\.sql/);
  });

  it("when two files share a version, then loading fails", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "atlas-mig-"));
    writeFileSync(path.join(dir, "000001_a.sql"), "SELECT 1;");
    writeFileSync(path.join(dir, "000001_b.sql"), "SELECT 1;");
    expect(() => loadMigrations(dir)).to.throw(MigrationError, /000001/);
  });
});
