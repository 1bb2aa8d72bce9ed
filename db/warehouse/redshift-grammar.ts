/**
 * Checks one SQL statement against Amazon Redshift's documented grammar, so
 * unit tests can prove what we send a Redshift cluster without one (none
 * runs locally). Written from the Database Developer Guide:
 *   CREATE TABLE   https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_TABLE_NEW.html
 *   data types     https://docs.aws.amazon.com/redshift/latest/dg/c_Supported_data_types.html
 *   ALTER TABLE    https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html
 *   DROP TABLE     https://docs.aws.amazon.com/redshift/latest/dg/r_DROP_TABLE.html
 *   LOCK           https://docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html
 *   reserved words https://docs.aws.amazon.com/redshift/latest/dg/r_pg_keywords.html (redshift-tokens.ts)
 *   names          https://docs.aws.amazon.com/redshift/latest/dg/r_names.html (127 bytes)
 *   leader-node-only functions https://docs.aws.amazon.com/redshift/latest/dg/c_SQL_functions_leader_node_only.html
 * DDL is parsed in full (strictly: only the synopsis, clauses in its order);
 * DML (INSERT/SELECT/DELETE/UPDATE) is scanned for the PostgreSQL-only
 * constructs Redshift rejects. Anything else is reported as unknown, so a new
 * kind of statement needs its grammar added here first. Also reads a CREATE
 * TABLE's columns and keys, which lets tests compare the two dialects' DDL.
 */
import { Cursor, Unparsed, tokenize, type Tok } from "./redshift-tokens";

export interface ParsedTable {
  name: string;
  /** type is canonical (Redshift's primary name: integer, double precision, varchar(36), timestamptz, …). */
  columns: { name: string; type: string; notNull: boolean }[];
  primaryKey: string[];
  distStyle?: string;
  distKey?: string;
  sortKey?: { style: string; columns: string[] };
}

export interface CheckedStatement {
  /** e.g. "CREATE TABLE", "LOCK", "INSERT". */
  kind: string;
  /** Empty when the statement is Redshift's. */
  problems: string[];
  /** For CREATE TABLE. */
  table?: ParsedTable;
}

/** Deprecated leader-node-only date functions (an error in any query that reads a table): called, and bare keywords. */
const LEADER_ONLY_CALLS = new Set(["NOW", "AGE", "ISFINITE"]);
const LEADER_ONLY_WORDS = new Set(["CURRENT_TIME", "CURRENT_TIMESTAMP", "LOCALTIME"]);

const SIMPLE_TYPES: Record<string, string> = {
  SMALLINT: "smallint", INT2: "smallint", INTEGER: "integer", INT: "integer", INT4: "integer", BIGINT: "bigint", INT8: "bigint",
  REAL: "real", FLOAT4: "real", FLOAT8: "double precision", FLOAT: "double precision", BOOLEAN: "boolean", BOOL: "boolean",
  DATE: "date", TIMESTAMPTZ: "timestamptz", TIMETZ: "timetz", SUPER: "super", GEOMETRY: "geometry", GEOGRAPHY: "geography",
  HLLSKETCH: "hllsketch",
};

/** Reads a data type; returns its canonical name. `column` applies our column policy (no TEXT). */
function dataType(c: Cursor, column: string | null): string {
  const word = c.peek();
  const length = (max: number, fallback: number): number => {
    if (!c.accept("(")) return fallback;
    const n = c.accept("MAX") ? max : c.number();
    c.expect(")");
    if (n < 1 || n > max) c.problems.push(`${column ?? "cast"}: length ${n} is outside 1..${max}`);
    return n;
  };
  const timeZone = (): boolean => {
    if (c.accept("WITH", "TIME", "ZONE")) return true;
    c.accept("WITHOUT", "TIME", "ZONE");
    return false;
  };
  if (word && SIMPLE_TYPES[word]) {
    c.i++;
    return SIMPLE_TYPES[word];
  }
  if (c.accept("DOUBLE", "PRECISION")) return "double precision";
  if (c.accept("TIMESTAMP")) return timeZone() ? "timestamptz" : "timestamp";
  if (c.accept("TIME")) return timeZone() ? "timetz" : "time";
  if (c.accept("DECIMAL") || c.accept("NUMERIC")) {
    if (!c.accept("(")) return "decimal(18,0)";
    const p = c.number();
    const s = c.accept(",") ? c.number() : 0;
    c.expect(")");
    if (p < 1 || p > 38 || s > p) c.problems.push(`${column ?? "cast"}: DECIMAL(${p},${s}) is outside precision 1..38, scale <= precision`);
    return `decimal(${p},${s})`;
  }
  if (c.accept("CHARACTER", "VARYING") || c.accept("VARCHAR") || c.accept("NVARCHAR")) return `varchar(${length(65535, 256)})`;
  if (c.accept("CHARACTER") || c.accept("CHAR") || c.accept("NCHAR") || c.accept("BPCHAR")) return `char(${length(4096, 1)})`;
  if (c.accept("VARBYTE") || c.accept("VARBINARY")) return `varbyte(${length(1_024_000, 64_000)})`;
  if (c.accept("TEXT")) {
    if (column) c.problems.push(`${column}: TEXT is VARCHAR(256) in Redshift, not unbounded: say varchar(n)`);
    return "varchar(256)";
  }
  throw new Unparsed(`${column ?? "cast"}: ${word ?? "nothing"} is not a Redshift data type`);
}

function createTable(c: Cursor): ParsedTable {
  c.accept("LOCAL");
  if (!c.accept("TEMP")) c.accept("TEMPORARY");
  c.expect("TABLE");
  c.accept("IF", "NOT", "EXISTS");
  const t: ParsedTable = { name: c.name("table name", true), columns: [], primaryKey: [] };
  let distKeys = 0;
  let columnSortKeys = 0;
  c.expect("(");
  do {
    if (c.accept("PRIMARY", "KEY")) t.primaryKey = c.names("primary key column");
    else if (c.accept("UNIQUE")) c.names("unique column");
    else if (c.accept("FOREIGN", "KEY")) {
      c.names("foreign key column");
      c.expect("REFERENCES");
      c.name("referenced table", true);
      if (c.peek() === "(") c.names("referenced column");
    } else {
      const name = c.name("column name");
      if (t.columns.some((col) => col.name === name)) c.problems.push(`column ${name} is declared twice`);
      const col = { name, type: dataType(c, name), notNull: false };
      t.columns.push(col);
      while (!c.done && c.peek() !== "," && c.peek() !== ")") {
        if (c.accept("NOT", "NULL")) col.notNull = true;
        else if (c.accept("NULL")) col.notNull = false;
        else if (c.accept("DEFAULT")) c.skipExpression();
        else if (c.accept("IDENTITY") || c.accept("GENERATED", "BY", "DEFAULT", "AS", "IDENTITY")) {
          c.expect("(");
          c.number();
          c.expect(",");
          c.number();
          c.expect(")");
        } else if (c.accept("ENCODE") || c.accept("COLLATE")) c.word("an encoding or collation"); // keywords, reserved or not (MOSTLY16)
        else if (c.accept("DISTKEY")) distKeys++;
        else if (c.accept("SORTKEY")) columnSortKeys++;
        else if (c.accept("UNIQUE")) continue;
        else if (c.accept("PRIMARY", "KEY")) t.primaryKey = [name];
        else if (c.accept("REFERENCES")) {
          c.name("referenced table", true);
          if (c.peek() === "(") c.names("referenced column");
        } else throw new Unparsed(`column ${name}: ${c.peek()} is not a Redshift column attribute or constraint`);
      }
    }
  } while (c.accept(","));
  c.expect(")");
  if (c.accept("BACKUP") && !c.accept("YES")) c.expect("NO");
  if (c.accept("DISTSTYLE")) {
    t.distStyle = ["AUTO", "EVEN", "KEY", "ALL"].find((s) => c.accept(s));
    if (!t.distStyle) throw new Unparsed(`DISTSTYLE ${c.peek()}: expected AUTO, EVEN, KEY or ALL`);
  }
  if (c.accept("DISTKEY")) {
    [t.distKey] = c.names("distribution key");
    distKeys++;
  }
  const style = ["COMPOUND", "INTERLEAVED"].find((s) => c.accept(s));
  if (c.accept("SORTKEY")) {
    if (!style && c.accept("AUTO")) t.sortKey = { style: "AUTO", columns: [] };
    else t.sortKey = { style: style ?? "COMPOUND", columns: c.names("sort key column") };
  } else if (style) throw new Unparsed(`${style} must be followed by SORTKEY (…)`);
  c.accept("ENCODE", "AUTO");
  c.accept(";");
  if (!c.done) throw new Unparsed(`unexpected ${c.peek()} after the table attributes (DISTSTYLE, DISTKEY, SORTKEY, ENCODE AUTO, in that order)`);

  const known = new Set(t.columns.map((col) => col.name));
  const unknown = (what: string, cols: string[]) => cols.filter((x) => !known.has(x)).forEach((x) => c.problems.push(`${what} ${x} is not a column`));
  unknown("primary key column", t.primaryKey);
  unknown("distribution key", t.distKey ? [t.distKey] : []);
  unknown("sort key column", t.sortKey?.columns ?? []);
  if (distKeys > 1) c.problems.push("only one column can be the distribution key");
  if (distKeys > 0 && t.distStyle && t.distStyle !== "KEY") c.problems.push(`a DISTKEY needs DISTSTYLE KEY (or none), not ${t.distStyle}`);
  if (t.distStyle === "KEY" && distKeys === 0) c.problems.push("DISTSTYLE KEY needs a DISTKEY column");
  if (columnSortKeys > 0 && t.sortKey) c.problems.push("sort key declared both on a column and for the table");
  const sortMax = t.sortKey?.style === "INTERLEAVED" ? 8 : 400;
  if ((t.sortKey?.columns.length ?? 0) > sortMax) c.problems.push(`a ${t.sortKey!.style} sort key has at most ${sortMax} columns`);
  return t;
}

function lock(c: Cursor): void {
  c.accept("TABLE");
  do c.name("table name", true);
  while (c.accept(","));
  c.accept(";");
  if (!c.done) c.problems.push(`Redshift's LOCK takes no mode ("LOCK [ TABLE ] table_name [, ...]"), found ${c.peek()}`);
}

/** The PostgreSQL-only constructs Redshift rejects in queries and DML. */
function scanDml(toks: Tok[], c: Cursor): void {
  const at = (i: number) => toks[i]?.key;
  for (let i = 0; i < toks.length; i++) {
    const k = at(i);
    if (k === "ON" && at(i + 1) === "CONFLICT") c.problems.push("Redshift has no ON CONFLICT: merge with DELETE … USING + INSERT … SELECT (or MERGE)");
    if (k === "RETURNING") c.problems.push("Redshift's INSERT/UPDATE/DELETE have no RETURNING");
    if (k === "FILTER" && at(i + 1) === "(") c.problems.push("Redshift has no aggregate FILTER (WHERE …): put a CASE inside the aggregate");
    if (k === "DISTINCT" && at(i + 1) === "ON") c.problems.push("Redshift has no DISTINCT ON: use ROW_NUMBER() OVER (…)");
    const leaderOnly = LEADER_ONLY_WORDS.has(k!) || (LEADER_ONLY_CALLS.has(k!) && at(i + 1) === "(");
    if (toks[i].kind === "word" && leaderOnly && at(i - 1) !== ".") {
      c.problems.push(`${k} is a deprecated leader-node-only function in Redshift: bind the time as a parameter, or GETDATE()/SYSDATE`);
    }
    const castAt = k === "::" ? i + 1 : k === "AS" && castOpen(toks, i) ? i + 1 : -1;
    if (castAt >= 0) {
      const sub = new Cursor(toks.slice(castAt), c.problems);
      try {
        dataType(sub, null);
      } catch (err) {
        c.problems.push((err as Error).message);
      }
    }
  }
}

/** Whether the AS at `i` is the one of CAST( … AS type): the innermost open parenthesis follows CAST. */
function castOpen(toks: Tok[], i: number): boolean {
  for (let j = i - 1, depth = 0; j >= 0; j--) {
    if (toks[j].key === ")") depth++;
    else if (toks[j].key === "(" && depth-- === 0) return toks[j - 1]?.key === "CAST";
  }
  return false;
}

export function checkRedshiftStatement(sql: string): CheckedStatement {
  const problems: string[] = [];
  let toks: Tok[];
  try {
    toks = tokenize(sql);
  } catch (err) {
    return { kind: "unreadable", problems: [(err as Error).message] };
  }
  const semi = toks.findIndex((t) => t.key === ";");
  if (semi >= 0 && semi < toks.length - 1) problems.push("one statement per query: found more after ;");
  const c = new Cursor(toks, problems);
  const first = c.peek() ?? "";
  const result: CheckedStatement = { kind: first, problems };
  try {
    const creates = first === "CREATE" ? toks.slice(1, 4).find((t) => !["LOCAL", "TEMP", "TEMPORARY", "UNIQUE"].includes(t.key))?.key : undefined;
    if (creates === "TABLE") {
      c.expect("CREATE");
      result.kind = "CREATE TABLE";
      result.table = createTable(c);
    } else if (creates === "INDEX") {
      result.kind = "CREATE INDEX";
      problems.push("Redshift has no indexes (CREATE INDEX): the sort key and zone maps do that job");
    } else if (c.accept("ALTER", "TABLE")) {
      result.kind = "ALTER TABLE";
      c.name("table name", true);
      if (c.accept("RENAME", "TO")) c.name("new table name");
      else if (c.accept("RENAME", "COLUMN")) {
        c.name("column name");
        c.expect("TO");
        c.name("new column name");
      } else throw new Unparsed(`ALTER TABLE … ${c.peek()} is not checked here (add its grammar from r_ALTER_TABLE.html)`);
      c.accept(";");
      if (!c.done) throw new Unparsed(`unexpected ${c.peek()}`);
    } else if (c.accept("DROP", "TABLE")) {
      result.kind = "DROP TABLE";
      c.accept("IF", "EXISTS");
      do c.name("table name", true);
      while (c.accept(","));
      if (!c.accept("CASCADE")) c.accept("RESTRICT");
      c.accept(";");
      if (!c.done) throw new Unparsed(`unexpected ${c.peek()}`);
    } else if (c.accept("LOCK")) {
      lock(c);
    } else if (["INSERT", "SELECT", "WITH", "DELETE", "UPDATE"].includes(first)) {
      scanDml(toks, c);
    } else if (!["BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ANALYZE"].includes(first)) {
      problems.push(`${[first, creates].filter(Boolean).join(" ") || "an empty statement"} is not a statement this checker knows Redshift to accept`);
    }
  } catch (err) {
    if (!(err instanceof Unparsed)) throw err;
    problems.push(`not Redshift's ${result.kind} grammar: ${err.message}`);
  }
  return result;
}
