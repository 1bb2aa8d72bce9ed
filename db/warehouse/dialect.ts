/**
 * Which SQL the warehouse speaks: PostgreSQL locally (WAREHOUSE_URL of the
 * stack, npm start), Amazon Redshift in AWS. Detected from the server rather
 * than configured, so one WAREHOUSE_URL setting cannot disagree with another.
 */
export type Dialect = "postgres" | "redshift";

export const DIALECTS: readonly Dialect[] = ["postgres", "redshift"];

interface Queryable {
  query<R extends Record<string, unknown>>(sql: string): Promise<{ rows: R[] }>;
}

/**
 * Redshift answers version() with "PostgreSQL 8.0.2 on i686-pc-linux-gnu, …,
 * Redshift 1.0.NNNNN" (https://docs.aws.amazon.com/redshift/latest/dg/r_VERSION.html);
 * PostgreSQL never names Redshift.
 */
export function dialectOfVersion(version: string): Dialect {
  return /redshift/i.test(version) ? "redshift" : "postgres";
}

export async function detectDialect(db: Queryable): Promise<Dialect> {
  const { rows } = await db.query<{ version: string }>("SELECT version() AS version");
  return dialectOfVersion(String(rows[0]?.version ?? ""));
}
