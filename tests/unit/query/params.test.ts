import { expect } from "chai";
import { parseReadPolicy } from "../../../app/query/routing/consistency";
import { parseInterval, parseTimeseriesParams } from "../../../app/query/timeseries/params";
import { AppError } from "../../../app/shared/http/errors";

function field(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(AppError);
    expect((err as AppError).status).to.equal(400);
    return (err as AppError).field;
  }
  throw new Error("expected a 400");
}

describe("query: consistency headers", () => {
  it("defaults to eventual with the configured lag budget", () => {
    expect(parseReadPolicy({}, 3)).to.deep.equal({ level: "eventual", maxLagSeconds: 3 });
    expect(parseReadPolicy({ "x-consistency-level": "Strong", "x-max-lag-seconds": "600" }, 3)).to.deep.equal({ level: "strong", maxLagSeconds: 600 });
    expect(parseReadPolicy({ "x-max-lag-seconds": "0.5" }, 3).maxLagSeconds).to.equal(0.5);
  });

  it("when a header is invalid, then 400 names it", () => {
    expect(field(() => parseReadPolicy({ "x-consistency-level": "linearizable" }, 3))).to.equal("X-Consistency-Level");
    expect(field(() => parseReadPolicy({ "x-max-lag-seconds": "-1" }, 3))).to.equal("X-Max-Lag-Seconds");
    expect(field(() => parseReadPolicy({ "x-max-lag-seconds": "abc" }, 3))).to.equal("X-Max-Lag-Seconds");
    expect(field(() => parseReadPolicy({ "x-max-lag-seconds": "1e9" }, 3))).to.equal("X-Max-Lag-Seconds");
  });
});

describe("query: time-series parameters", () => {
  const base = { attributes: "temperature,pressure", from: "2026-03-01T00:00:00Z", to: "2026-03-08T00:00:00Z" };

  it("parses a raw request with defaults (UTC, no interval)", () => {
    const p = parseTimeseriesParams(base, 31);
    expect(p.attributes).to.deep.equal(["temperature", "pressure"]);
    expect(p.tz).to.equal("UTC");
    expect(p.bucketing).to.equal(undefined);
    expect(p.to.getTime() - p.from.getTime()).to.equal(7 * 86_400_000);
  });

  it("when from or to are missing, malformed, reversed or the span is too long, then 400 names the field", () => {
    expect(field(() => parseTimeseriesParams({ attributes: "a", to: base.to }, 31))).to.equal("from");
    expect(field(() => parseTimeseriesParams({ attributes: "a", from: base.from }, 31))).to.equal("to");
    expect(field(() => parseTimeseriesParams({ ...base, from: "last tuesday" }, 31))).to.equal("from");
    expect(field(() => parseTimeseriesParams({ ...base, from: "2026-03-01T00:00:00" }, 31))).to.equal("from");
    expect(field(() => parseTimeseriesParams({ ...base, to: base.from }, 31))).to.equal("to");
    expect(field(() => parseTimeseriesParams({ ...base, to: "2026-04-02T00:00:00Z" }, 31))).to.equal("to");
    expect(field(() => parseTimeseriesParams({ ...base, attributes: "" }, 31))).to.equal("attributes");
    expect(field(() => parseTimeseriesParams({ ...base, attributes: ["a", "b"] }, 31))).to.equal("attributes");
  });

  it("when interval or agg are invalid, then 400 names them", () => {
    expect(field(() => parseTimeseriesParams({ ...base, interval: "7m" }, 31))).to.equal("interval");
    expect(field(() => parseTimeseriesParams({ ...base, interval: "1h", agg: "median" }, 31))).to.equal("agg");
    expect(field(() => parseTimeseriesParams({ ...base, agg: "avg" }, 31))).to.equal("interval");
    expect(field(() => parseTimeseriesParams({ ...base, to: "2026-04-20T00:00:00Z", interval: "1m" }, 60))).to.equal("interval");
    expect(field(() => parseTimeseriesParams({ ...base, limit: "0" }, 31))).to.equal("limit");
  });

  it("cuts sub-day intervals as strides and days/weeks/months by the calendar", () => {
    expect(parseInterval("15m")).to.deep.include({ kind: "stride", stride: "15 minutes" });
    expect(parseInterval("1h")).to.deep.include({ kind: "stride", stride: "1 hours" });
    expect(parseInterval("1d")).to.deep.include({ kind: "calendar", unit: "day" });
    expect(parseInterval("1w")).to.deep.include({ kind: "calendar", unit: "week" });
    expect(parseInterval("1M")).to.deep.include({ kind: "calendar", unit: "month" });
    const p = parseTimeseriesParams({ ...base, interval: "1d", tz: "Europe/Berlin" }, 31);
    expect(p.agg).to.equal("avg");
    expect(p.tz).to.equal("Europe/Berlin");
  });
});
