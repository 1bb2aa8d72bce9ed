/**
 * Renders the warehouse schema (schema.ts, migrations/) as the SQL of one
 * dialect. Both renderings come from the same table descriptions, so they
 * declare the same tables, columns, types and keys; they differ only where
 * the dialects do:
 *   PostgreSQL: CREATE TABLE, then CREATE INDEX for the table's indexes;
 *               LOCK TABLE … IN EXCLUSIVE MODE.
 *   Redshift:   CREATE TABLE … DISTSTYLE … DISTKEY (…) COMPOUND SORTKEY (…),
 *               no indexes (it has none); LOCK name (its LOCK has no mode:
 *               https://docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html).
 * Table attributes follow the order of Redshift's CREATE TABLE synopsis
 * (https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_TABLE_NEW.html).
 */
import type { Dialect } from "./dialect";
import { MIGRATIONS } from "./migrations";
import type { Migration, RedshiftLayout, Step, Table } from "./schema";

/** Redshift's VARCHAR limit, in bytes (r_Character_types.html). */
const MAX_VARCHAR = 65_535;

/** Refuses a description either dialect would reject or misread, naming the table and the fix. */
export function validateTable(t: Table): void {
  const fail = (why: string) => {
    throw new Error(`warehouse table ${t.name}: ${why}`);
  };
  const names = new Set<string>();
  for (const c of t.columns) {
    if (names.has(c.name)) fail(`column ${c.name} is declared twice`);
    names.add(c.name);
    const varchar = /^varchar\((\d+)\)$/.exec(c.type);
    if (varchar && (Number(varchar[1]) < 1 || Number(varchar[1]) > MAX_VARCHAR)) fail(`${c.name} ${c.type}: varchar length must be 1..${MAX_VARCHAR}`);
  }
  const known = (what: string, cols: string[]) => cols.forEach((c) => names.has(c) || fail(`${what} names unknown column ${c}`));
  if (t.primaryKey.length === 0) fail("needs a primary key (the loader merges by it)");
  known("primary key", t.primaryKey);
  for (const k of t.primaryKey) {
    if (!t.columns.find((c) => c.name === k)?.notNull) fail(`primary key column ${k} must be notNull: true (Redshift does not imply NOT NULL)`);
  }
  const { distStyle, distKey, sortKey } = t.redshift;
  if ((distStyle === "key") !== (distKey !== undefined)) fail('Redshift distKey goes with distStyle "key", and only with it');
  if (distKey) known("Redshift distKey", [distKey]);
  if (sortKey) {
    known("Redshift sortKey", sortKey.columns);
    // Limits from r_CREATE_TABLE_NEW.html: 400 compound, 8 interleaved sort key columns.
    const max = sortKey.style === "compound" ? 400 : 8;
    if (sortKey.columns.length === 0 || sortKey.columns.length > max) fail(`a ${sortKey.style} sort key has 1..${max} columns`);
  }
  for (const ix of t.postgresIndexes ?? []) known(`index ${ix.name}`, ix.columns);
}

function redshiftAttributes({ distStyle, distKey, sortKey }: RedshiftLayout): string {
  const parts = [`DISTSTYLE ${distStyle.toUpperCase()}`];
  if (distKey) parts.push(`DISTKEY (${distKey})`);
  if (sortKey) parts.push(`${sortKey.style.toUpperCase()} SORTKEY (${sortKey.columns.join(", ")})`);
  return parts.join(" ");
}

export interface CreateTableOptions {
  /** CREATE TABLE IF NOT EXISTS (and CREATE INDEX IF NOT EXISTS). Defaults to false: a migration creates what it knows is missing. */
  ifNotExists?: boolean;
}

/** CREATE TABLE, and on PostgreSQL the table's indexes. */
export function createTableStatements(t: Table, dialect: Dialect, opts: CreateTableOptions = {}): string[] {
  validateTable(t);
  const ine = opts.ifNotExists ? "IF NOT EXISTS " : "";
  const body = [...t.columns.map((c) => `  ${c.name} ${c.type}${c.notNull ? " NOT NULL" : ""}`), `  PRIMARY KEY (${t.primaryKey.join(", ")})`];
  const create = `CREATE TABLE ${ine}${t.name} (\n${body.join(",\n")}\n)`;
  if (dialect === "redshift") return [`${create}\n${redshiftAttributes(t.redshift)}`];
  return [create, ...(t.postgresIndexes ?? []).map((ix) => `CREATE INDEX ${ine}${ix.name} ON ${t.name} (${ix.columns.join(", ")})`)];
}

export function stepStatements(step: Step, dialect: Dialect): string[] {
  switch (step.kind) {
    case "createTable":
      return createTableStatements(step.table, dialect);
    case "renameTable":
      return [`ALTER TABLE ${step.from} RENAME TO ${step.to}`];
    case "dropTable":
      return [`DROP TABLE ${step.name}`];
    case "sql":
      return [step.sql];
  }
}

/** The statements of one migration, to run in order in one transaction. */
export function migrationStatements(m: Migration, dialect: Dialect): string[] {
  return m.steps.flatMap((s) => stepStatements(s, dialect));
}

/**
 * The lock that serialises concurrent migration runners. PostgreSQL: EXCLUSIVE
 * still lets readers read; Redshift's LOCK is always ACCESS EXCLUSIVE.
 */
export function lockStatement(table: string, dialect: Dialect): string {
  return dialect === "redshift" ? `LOCK ${table}` : `LOCK TABLE ${table} IN EXCLUSIVE MODE`;
}

/** Every migration as one script, for reading or review (README: "See the DDL"). */
export function renderDdl(dialect: Dialect, migrations: readonly Migration[] = MIGRATIONS): string {
  return migrations.map((m) => `-- ${m.version}\n${migrationStatements(m, dialect).map((s) => `${s};`).join("\n\n")}\n`).join("\n");
}
