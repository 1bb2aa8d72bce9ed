import { expect } from "chai";
import {
  ErrorCollector,
  onlyRegistrable,
  parseEntityId,
  parseTimestamp,
  typeValue,
  validateReading,
  type AttributeDef,
  type ValidationContext,
} from "../../../app/ingest/validate";

const NOW = Date.UTC(2026, 10, 24, 10, 0, 0);
const attrs: Record<string, AttributeDef> = {
  temperature: { id: 1, name: "temperature", type: "decimal", hot: true },
  status: { id: 2, name: "status", type: "string", hot: true },
  count: { id: 3, name: "count", type: "int", hot: false },
  online: { id: 4, name: "online", type: "bool", hot: false },
  seen_at: { id: 5, name: "seen_at", type: "timestamp", hot: false },
};
const ctx: ValidationContext = {
  lookup: (n) => attrs[n],
  maxAttributes: 3,
  nowMs: NOW,
  liveWindowMs: 7 * 86_400_000,
  maxSkewMs: 600_000,
  maxAgeMs: 400 * 86_400_000,
};
const ok = (r: unknown) => {
  const res = validateReading(r, 0, ctx);
  if (!res.ok) throw new Error(JSON.stringify(res.errors));
  return res.reading;
};
const errs = (r: unknown) => {
  const res = validateReading(r, 7, ctx);
  if (res.ok) throw new Error("expected errors");
  return res.errors;
};
const base = { entity_id: 123, entity_type: "sensor", ts: "2026-11-24T09:00:00Z", values: { temperature: 75.5 } };

describe("ingest validation", () => {
  it("when a reading is well formed, then it is typed with attribute ids, its ts, and the live lane", () => {
    const r = ok({ ...base, values: { temperature: 75.5, status: "online", count: 3 } });
    expect(r).to.deep.equal({
      entityId: "123",
      entityType: "sensor",
      tsMs: Date.UTC(2026, 10, 24, 9),
      lane: "live",
      values: [[1, 75.5], [2, "online"], [3, 3]],
    });
  });

  it("when ts is missing, then it defaults to the arrival time", () => {
    expect(ok({ ...base, ts: undefined }).tsMs).to.equal(NOW);
  });

  it("when ts is epoch milliseconds or has an offset, then it is read as that instant", () => {
    expect(ok({ ...base, ts: NOW - 1000 }).tsMs).to.equal(NOW - 1000);
    expect(ok({ ...base, ts: "2026-11-24T11:00:00+02:00" }).tsMs).to.equal(Date.UTC(2026, 10, 24, 9));
    expect(ok({ ...base, ts: "2026-11-24T09:00:00.123456Z" }).tsMs).to.equal(Date.UTC(2026, 10, 24, 9, 0, 0, 123));
  });

  it("when ts has no timezone or is not a date, then the reading is rejected naming ts", () => {
    for (const ts of ["2026-11-24T09:00:00", "yesterday", "2026-02-30T00:00:00Z", 1.5, -1, true]) {
      expect(errs({ ...base, ts })[0]).to.include({ index: 7, field: "ts" });
    }
  });

  it("when ts is more than the clock skew in the future, then the reading is rejected", () => {
    const e = errs({ ...base, ts: NOW + 11 * 60_000 });
    expect(e[0].field).to.equal("ts");
    expect(e[0].reason).to.match(/in the future/);
    expect(ok({ ...base, ts: NOW + 9 * 60_000 }).lane).to.equal("live");
  });

  it("when ts is older than the live window, then it takes the backfill lane; older than retention, rejected", () => {
    expect(ok({ ...base, ts: NOW - 8 * 86_400_000 }).lane).to.equal("backfill");
    expect(errs({ ...base, ts: NOW - 401 * 86_400_000 })[0].reason).to.match(/retention/);
  });

  it("when entity_id is a float, zero, negative, too large or missing, then it is rejected", () => {
    for (const id of [1.5, 0, -3, "12a", "9223372036854775808", 2 ** 60, undefined, null, "-1"]) {
      expect(errs({ ...base, entity_id: id })[0].field, String(id)).to.equal("entity_id");
    }
  });

  it("when entity_id is a digit string up to 2^63-1, then it is kept exactly", () => {
    expect(ok({ ...base, entity_id: "9223372036854775807" }).entityId).to.equal("9223372036854775807");
    expect(ok({ ...base, entity_id: "0042" }).entityId).to.equal("42");
    expect(parseEntityId(9007199254740991)).to.deep.equal({ id: "9007199254740991" });
  });

  it("when entity_type is empty, too long, not a string or has control characters, then it is rejected", () => {
    for (const t of ["", "x".repeat(65), "a\nb", 5]) {
      expect(errs({ ...base, entity_type: t })[0].field).to.equal("entity_type");
    }
  });

  it("when entity_type is left out or null, then the reading is valid and names no type", () => {
    const { entity_type: _, ...untyped } = base;
    expect(ok(untyped).entityType).to.equal(null);
    expect(ok({ ...base, entity_type: null }).entityType).to.equal(null);
  });

  it("when a value does not match its attribute's type, then the error names values.<attribute>", () => {
    const e = errs({ ...base, values: { temperature: "hot", count: 1.5, online: "yes" } });
    expect(e.map((x) => x.field)).to.deep.equal(["values.temperature", "values.count", "values.online"]);
  });

  it("when an int comes as a decimal string within int64, then it is accepted (as a string beyond 2^53)", () => {
    expect(typeValue("int", "9223372036854775807")).to.deep.equal({ value: "9223372036854775807" });
    expect(typeValue("int", "-12")).to.deep.equal({ value: -12 });
    expect(typeValue("int", "9223372036854775808")).to.have.property("reason");
    expect(typeValue("int", 2 ** 60)).to.have.property("reason");
  });

  it("when a number is not finite (JSON 1e400 parses to Infinity), then it is rejected", () => {
    expect(typeValue("decimal", JSON.parse("1e400"))).to.have.property("reason");
    expect(typeValue("decimal", NaN)).to.have.property("reason");
    expect(typeValue("decimal", 1e308)).to.deep.equal({ value: 1e308 });
  });

  it("when a string value is over 8 KiB or holds NUL, then it is rejected", () => {
    expect(typeValue("string", "é".repeat(4097))).to.have.property("reason");
    expect(typeValue("string", "a\u0000b")).to.have.property("reason");
    expect(typeValue("string", "x".repeat(8192))).to.deep.equal({ value: "x".repeat(8192) });
  });

  it("when a timestamp value is given, then it is normalised to ISO UTC", () => {
    expect(typeValue("timestamp", "2026-11-24T11:00:00+02:00")).to.deep.equal({ value: "2026-11-24T09:00:00.000Z" });
  });

  it("when a value is null, then it is rejected (omit the attribute instead)", () => {
    expect(errs({ ...base, values: { temperature: null } })[0].reason).to.match(/null/);
  });

  it("when values is empty, not an object, or holds too many attributes, then it is rejected", () => {
    expect(errs({ ...base, values: {} })[0].field).to.equal("values");
    expect(errs({ ...base, values: [1] })[0].field).to.equal("values");
    expect(errs({ ...base, values: { temperature: 1, status: "a", count: 1, online: true } })[0].reason).to.match(/at most 3/);
  });

  it("when an attribute name is malformed, then it is rejected naming it", () => {
    expect(errs({ ...base, values: { "1bad": 1 } })[0]).to.include({ field: "values.1bad" });
  });

  it("when an attribute is unknown, then the error names it and carries the inferred type", () => {
    const res = validateReading({ ...base, values: { humidity: 40, on: true, blob: { a: 1 } } }, 0, ctx);
    expect(res.ok).to.equal(false);
    if (res.ok) return;
    expect(res.errors.map((e) => e.field)).to.deep.equal(["values.humidity", "values.on", "values.blob"]);
    expect(res.errors[0].reason).to.match(/unknown attribute 'humidity'/);
    expect([...res.unknown]).to.deep.equal([["humidity", "decimal"], ["on", "bool"], ["blob", undefined]]);
    expect(onlyRegistrable(res)).to.equal(false);
    const r2 = validateReading({ ...base, values: { humidity: 40 } }, 0, ctx);
    expect(onlyRegistrable(r2)).to.equal(true);
  });

  it("when a reading is not an object, then it is rejected as a whole", () => {
    expect(errs("nope")[0]).to.deep.equal({ index: 7, field: "reading", reason: "must be an object, got a string" });
  });

  it("when more errors than the cap arrive, then the list is capped and the message counts the rest", () => {
    const c = new ErrorCollector(2);
    c.add([{ index: 0, field: "a", reason: "x" }]);
    c.add([{ index: 1, field: "a", reason: "x" }, { index: 1, field: "b", reason: "y" }]);
    expect(c.listed).to.have.length(2);
    expect(c.message(10)).to.match(/^2 of 10 readings are invalid.*1 more not listed/);
  });

  it("parseTimestamp accepts ±hhmm offsets and rejects out-of-range fields", () => {
    expect(parseTimestamp("2026-11-24T09:00:00-0130")).to.equal(Date.UTC(2026, 10, 24, 10, 30));
    expect(parseTimestamp("2026-11-24T24:00:00Z")).to.be.a("string");
  });
});
