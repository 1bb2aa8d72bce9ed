import { expect } from "chai";
import type { AttributeDef, Dictionary } from "../../../app/query/catalog";
import { buildFilterSql, filterHash, parseFilters } from "../../../app/query/search/filters";
import { AppError } from "../../../app/shared/http/errors";

const attr = (attributeId: number, name: string, dataType: AttributeDef["dataType"], isHot = true): [string, AttributeDef] => [
  name,
  { attributeId, name, dataType, isHot },
];
const dict: Dictionary = new Map([
  attr(1, "status", "string"),
  attr(2, "priority", "int"),
  attr(3, "temperature", "decimal"),
  attr(4, "online", "bool"),
  attr(5, "seen_at", "timestamp"),
  attr(6, "firmware", "string", false),
]);

function fieldOf(fn: () => unknown): { status: number; code: string; field?: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(AppError);
    const e = err as AppError;
    return { status: e.status, code: e.code, field: e.field, message: e.message };
  }
  throw new Error("expected an AppError");
}

describe("query: search filter parsing", () => {
  it("when an attribute is unknown, then 400 unknown_attribute names it and the filter index", () => {
    const e = fieldOf(() => parseFilters([{ attribute: "status", op: "eq", value: "on" }, { attribute: "nope", op: "eq", value: 1 }], dict));
    expect(e).to.include({ status: 400, code: "unknown_attribute", field: "filters[1].attribute" });
    expect(e.message).to.contain("nope");
  });

  it("when an attribute is cold, then 400 attribute_not_hot names it", () => {
    const e = fieldOf(() => parseFilters([{ attribute: "firmware", op: "eq", value: "1.2" }], dict));
    expect(e).to.include({ status: 400, code: "attribute_not_hot", field: "filters[0].attribute" });
    expect(e.message).to.contain("firmware");
  });

  it("when op or value is malformed, then 400 names the part", () => {
    expect(fieldOf(() => parseFilters([{ attribute: "priority", op: "like", value: 1 }], dict)).field).to.equal("filters[0].op");
    expect(fieldOf(() => parseFilters([{ attribute: "priority", op: "gt", value: "8" }], dict)).field).to.equal("filters[0].value");
    expect(fieldOf(() => parseFilters([{ attribute: "priority", op: "eq", value: 1.5 }], dict)).field).to.equal("filters[0].value");
    expect(fieldOf(() => parseFilters([{ attribute: "status", op: "in", value: [] }], dict)).field).to.equal("filters[0].value");
    expect(fieldOf(() => parseFilters([{ attribute: "status", op: "in", value: ["a", 3] }], dict)).field).to.equal("filters[0].value");
    expect(fieldOf(() => parseFilters([{ attribute: "online", op: "gt", value: true }], dict)).field).to.equal("filters[0].op");
    expect(fieldOf(() => parseFilters([{ attribute: "seen_at", op: "gt", value: "yesterday" }], dict)).field).to.equal("filters[0].value");
    expect(fieldOf(() => parseFilters("status=on", dict)).field).to.equal("filters");
    expect(fieldOf(() => parseFilters([42], dict)).field).to.equal("filters[0]");
    expect(fieldOf(() => parseFilters([{ op: "eq", value: 1 }], dict)).field).to.equal("filters[0].attribute");
  });

  it("when filters are absent, then the search has no conditions", () => {
    expect(parseFilters(undefined, dict)).to.deep.equal([]);
    expect(buildFilterSql([], 2)).to.deep.equal({ clauses: [], params: [], containsAny: null });
  });
});

describe("query: search filters to SQL", () => {
  it("merges equalities into one containment document and never puts names or values in the SQL text", () => {
    const f = parseFilters(
      [
        { attribute: "status", op: "eq", value: "o'nline\"; DROP TABLE x" },
        { attribute: "priority", op: "eq", value: 8 },
        { attribute: "online", op: "eq", value: true },
      ],
      dict,
    );
    const sql = buildFilterSql(f, 2);
    expect(sql.clauses).to.deep.equal(["hot @> $2::jsonb"]);
    expect(JSON.parse(sql.params[0] as string)).to.deep.equal({ status: "o'nline\"; DROP TABLE x", priority: 8, online: true });
    for (const c of sql.clauses) expect(c).to.not.match(/status|priority|online|DROP/);
    // What the GIN candidates are asked for: the merged document.
    expect(sql.containsAny).to.deep.equal([sql.params[0]]);
  });

  it("turns in into containment of any document, and two eqs on one attribute into two documents", () => {
    const f = parseFilters(
      [
        { attribute: "status", op: "in", value: ["warning", "online", "online"] },
        { attribute: "priority", op: "eq", value: 1 },
        { attribute: "priority", op: "eq", value: 2 },
      ],
      dict,
    );
    const sql = buildFilterSql(f, 5);
    expect(sql.clauses).to.have.length(3);
    expect(sql.clauses).to.include("hot @> ANY($5::jsonb[])");
    expect(sql.params[0]).to.deep.equal(['{"status":"online"}', '{"status":"warning"}']);
    expect(sql.params.slice(1).map((p) => JSON.parse(p as string))).to.have.deep.members([{ priority: 1 }, { priority: 2 }]);
    // Equalities narrow more than an `in`: the GIN candidates come from one equality document.
    expect(sql.containsAny).to.have.length(1);
    expect([{ priority: 1 }, { priority: 2 }]).to.deep.include(JSON.parse(sql.containsAny![0]));
    // With only an `in`, its alternatives.
    expect(buildFilterSql(f.slice(0, 1), 2).containsAny).to.deep.equal(['{"status":"online"}', '{"status":"warning"}']);
  });

  it("compares ranges typed: numeric for numbers, timestamptz for timestamps, byte order for strings", () => {
    const f = parseFilters(
      [
        { attribute: "priority", op: "gte", value: 8 },
        { attribute: "temperature", op: "lt", value: 70.5 },
        { attribute: "seen_at", op: "gt", value: "2026-11-24T10:00:00+01:00" },
        { attribute: "status", op: "lte", value: "m" },
      ],
      dict,
    );
    const sql = buildFilterSql(f, 2);
    expect(sql.clauses).to.deep.equal([
      "(hot ->> $2::text)::numeric >= $3::numeric",
      "(hot ->> $4::text)::numeric < $5::numeric",
      "(hot ->> $6::text)::timestamptz > $7::timestamptz",
      '(hot ->> $8::text) COLLATE "C" <= $9::text',
    ]);
    expect(sql.params).to.deep.equal(["priority", "8", "temperature", "70.5", "seen_at", "2026-11-24T09:00:00.000Z", "status", "m"]);
    expect(sql.containsAny, "ranges have nothing for the GIN index").to.equal(null);
  });

  it("compares ints beyond 2^53 (strings of digits, as the projection stores them) numerically; small ones stay containment", () => {
    const f = parseFilters(
      [
        { attribute: "priority", op: "in", value: ["9007199254740993", 5] },
        { attribute: "priority", op: "eq", value: 42 },
        { attribute: "priority", op: "gt", value: "-9223372036854775808" },
      ],
      dict,
    );
    const sql = buildFilterSql(f, 2);
    expect(sql.clauses).to.deep.equal([
      "hot @> $6::jsonb",
      "(hot ->> $2::text)::numeric = ANY($3::numeric[])",
      "(hot ->> $4::text)::numeric > $5::numeric",
    ]);
    expect(sql.params).to.deep.equal(["priority", ["9007199254740993", "5"], "priority", "-9223372036854775808", '{"priority":42}']);
    expect(fieldOf(() => parseFilters([{ attribute: "priority", op: "eq", value: "9223372036854775808" }], dict)).field).to.equal("filters[0].value");
    expect(fieldOf(() => parseFilters([{ attribute: "priority", op: "eq", value: "12a" }], dict)).field).to.equal("filters[0].value");
    expect(fieldOf(() => parseFilters([{ attribute: "priority", op: "eq", value: "42" }], dict)).field).to.equal("filters[0].value");
  });

  it("hashes filters independent of their order, so a cursor binds to the search, not its spelling", () => {
    const a = parseFilters([{ attribute: "status", op: "in", value: ["b", "a"] }, { attribute: "priority", op: "gt", value: 1 }], dict);
    const b = parseFilters([{ attribute: "priority", op: "gt", value: 1 }, { attribute: "status", op: "in", value: ["a", "b"] }], dict);
    const c = parseFilters([{ attribute: "priority", op: "gt", value: 2 }], dict);
    expect(filterHash(a)).to.equal(filterHash(b));
    expect(filterHash(a)).to.not.equal(filterHash(c));
  });
});
