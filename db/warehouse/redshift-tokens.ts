/**
 * Reading SQL for the Redshift grammar check (redshift-grammar.ts): tokens,
 * a cursor over them, and Redshift's reserved words
 * (https://docs.aws.amazon.com/redshift/latest/dg/r_pg_keywords.html), which
 * an unquoted name may not be.
 */
const RESERVED = new Set(
  `AES128 AES256 ALL ALLOWOVERWRITE ANALYSE ANALYZE AND ANY ARRAY AS ASC AUTHORIZATION AZ64 BACKUP BETWEEN BINARY
  BLANKSASNULL BOTH BYTEDICT BZIP2 CASE CAST CHECK COLLATE COLUMN CONSTRAINT CREATE CREDENTIALS CROSS CURRENT_DATE
  CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURRENT_USER_ID DEFAULT DEFERRABLE DEFLATE DEFRAG DELTA DELTA32K DESC
  DISABLE DISTINCT DO ELSE EMPTYASNULL ENABLE ENCODE ENCRYPT ENCRYPTION END EXCEPT EXPLICIT FALSE FOR FOREIGN FREEZE
  FROM FULL GLOBALDICT256 GLOBALDICT64K GRANT GROUP GZIP HAVING IDENTITY IGNORE ILIKE IN INITIALLY INNER INTERSECT
  INTERVAL INTO IS ISNULL JOIN LEADING LEFT LIKE LIMIT LOCALTIME LOCALTIMESTAMP LUN LUNS LZO LZOP MINUS MOSTLY16
  MOSTLY32 MOSTLY8 NATURAL NEW NOT NOTNULL NULL NULLS OFF OFFLINE OFFSET OID OLD ON ONLY OPEN OR ORDER OUTER OVERLAPS
  PARALLEL PARTITION PERCENT PERMISSIONS PIVOT PLACING PRIMARY RAW READRATIO RECOVER REFERENCES REJECTLOG RESORT
  RESPECT RESTORE RIGHT SELECT SESSION_USER SIMILAR SNAPSHOT SOME SYSDATE SYSTEM TABLE TAG TDES TEXT255 TEXT32K THEN
  TIMESTAMP TO TOP TRAILING TRUE TRUNCATECOLUMNS UNION UNIQUE UNNEST UNPIVOT USER USING VERBOSE WALLET WHEN WHERE
  WITH WITHOUT`.split(/\s+/),
);

export interface Tok {
  kind: "word" | "quoted" | "string" | "number" | "param" | "punct";
  text: string;
  /** Upper case for words and punctuation; the name for quoted identifiers. */
  key: string;
}

const LEXEMES: [Tok["kind"] | null, RegExp][] = [
  [null, /\s+|--[^\n]*|\/\*[\s\S]*?\*\//y],
  ["string", /'(?:[^']|'')*'/y],
  ["quoted", /"(?:[^"]|"")*"/y],
  ["number", /\d+(?:\.\d+)?/y],
  ["param", /\$\d+/y],
  ["word", /[A-Za-z_][A-Za-z0-9_$]*/y],
  ["punct", /::|<=|>=|<>|!=|\|\||[(),;.=<>*+\-/%[\]]/y],
];

export function tokenize(sql: string): Tok[] {
  const toks: Tok[] = [];
  let at = 0;
  next: while (at < sql.length) {
    for (const [kind, re] of LEXEMES) {
      re.lastIndex = at;
      const m = re.exec(sql);
      if (!m) continue;
      at += m[0].length;
      if (kind) toks.push({ kind, text: m[0], key: kind === "quoted" ? m[0].slice(1, -1) : m[0].toUpperCase() });
      continue next;
    }
    throw new Error(`cannot read SQL at "${sql.slice(at, at + 20)}"`);
  }
  return toks;
}

/** A syntax error: the statement is not in the grammar. */
export class Unparsed extends Error {}

export class Cursor {
  i = 0;
  constructor(
    private readonly toks: Tok[],
    readonly problems: string[],
  ) {}
  get done(): boolean {
    return this.i >= this.toks.length;
  }
  peek(k = 0): string | undefined {
    return this.toks[this.i + k]?.key;
  }
  /** Consumes the words/punctuation if they come next. */
  accept(...keys: string[]): boolean {
    if (keys.some((k, j) => this.toks[this.i + j]?.kind === "quoted" || this.peek(j) !== k)) return false;
    this.i += keys.length;
    return true;
  }
  expect(...keys: string[]): void {
    if (!this.accept(...keys)) throw new Unparsed(`expected ${keys.join(" ")} but found ${this.peek() ?? "the end"}`);
  }
  number(): number {
    const t = this.toks[this.i++];
    if (t?.kind !== "number") throw new Unparsed(`expected a number but found ${t?.text ?? "the end"}`);
    return Number(t.text);
  }
  /** An identifier (optionally schema-qualified when `qualified`): lower-cased unless quoted; reserved words must be quoted. */
  name(what: string, qualified = false): string {
    const t = this.toks[this.i++];
    if (t?.kind !== "word" && t?.kind !== "quoted") throw new Unparsed(`expected ${what} but found ${t?.text ?? "the end"}`);
    if (t.kind === "word" && RESERVED.has(t.key)) this.problems.push(`${what} ${t.text} is a Redshift reserved word (quote it or rename it)`);
    const name = t.kind === "word" ? t.text.toLowerCase() : t.key;
    if (Buffer.byteLength(name) > 127) this.problems.push(`${what} ${name} is longer than Redshift's 127 bytes`);
    return qualified && this.accept(".") ? `${name}.${this.name(what)}` : name;
  }
  /** Any bare word (a keyword argument such as an encoding). */
  word(what: string): string {
    const t = this.toks[this.i++];
    if (t?.kind !== "word") throw new Unparsed(`expected ${what} but found ${t?.text ?? "the end"}`);
    return t.key;
  }
  names(what: string): string[] {
    this.expect("(");
    const out = [this.name(what)];
    while (this.accept(",")) out.push(this.name(what));
    this.expect(")");
    return out;
  }
  /** Skips an expression up to a comma or closing parenthesis at depth 0. */
  skipExpression(): void {
    for (let depth = 0; !this.done; this.i++) {
      const k = this.peek();
      if (depth === 0 && (k === "," || k === ")")) return;
      if (k === "(") depth++;
      if (k === ")") depth--;
    }
  }
}
