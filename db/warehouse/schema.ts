/**
 * The vocabulary the warehouse schema is written in: tables as data and the
 * steps of a migration. A table is described once, in the migration that
 * creates it (db/warehouse/migrations/), and ddl.ts renders it for each
 * dialect, so PostgreSQL and Redshift cannot declare different columns,
 * types or keys. Only what truly differs is per dialect, and named as such:
 * Redshift's distribution and sort keys, PostgreSQL's indexes.
 */

/**
 * The column types both dialects store alike and spell alike. Not text, uuid
 * or jsonb: Redshift has no uuid or jsonb, and its TEXT is varchar(256)
 * (https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html);
 * ids are varchar(36), free text varchar(65535), Redshift's longest.
 */
export type ColumnType = "bigint" | "int" | "double precision" | "boolean" | "date" | "timestamp" | "timestamptz" | `varchar(${number})`;

export interface Column {
  name: string;
  type: ColumnType;
  /** Defaults to false (nullable). Primary key columns must say true: Redshift does not imply it. */
  notNull?: boolean;
}

/**
 * Where Redshift puts a table's rows
 * (https://docs.aws.amazon.com/redshift/latest/dg/c_choosing_dist_sort.html).
 * Required for every table, so a new table cannot forget to choose.
 */
export type RedshiftLayout = {
  /** key: rows hashed on distKey across slices; all: a copy per node (small dimensions); auto: Redshift decides. */
  distStyle: "auto" | "even" | "all" | "key";
  /** Required with distStyle "key", and only then. */
  distKey?: string;
  sortKey?: { style: "compound" | "interleaved"; columns: string[] };
};

/** A PostgreSQL index. Redshift has none: zone maps over the sort key do that job there. */
export interface Index {
  name: string;
  columns: string[];
}

export interface Table {
  name: string;
  columns: Column[];
  /** Enforced by PostgreSQL, informational in Redshift (the loader's merge keeps keys unique there). */
  primaryKey: string[];
  redshift: RedshiftLayout;
  /** Defaults to none. */
  postgresIndexes?: Index[];
}

/**
 * One step of a migration. `sql` is for statements that are already the same
 * in both dialects (data moves: INSERT … SELECT); the Redshift grammar check
 * (redshift-grammar.ts) runs over them too.
 */
export type Step =
  | { kind: "createTable"; table: Table }
  | { kind: "renameTable"; from: string; to: string }
  | { kind: "dropTable"; name: string }
  | { kind: "sql"; sql: string };

export interface Migration {
  /**
   * What warehouse_migrations records. The first two keep the names of the
   * .sql files they were (0001_warehouse.sql, …), so warehouses that ran those
   * files see them as applied; the version names a meaning, not a file.
   */
  version: string;
  steps: Step[];
}
