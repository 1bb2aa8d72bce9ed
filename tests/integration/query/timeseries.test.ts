/** Time series: raw points, aggregates, local-midnight buckets across DST, range validation. */
import { expect } from "chai";
import { useTestDatabase } from "../../helpers/db";
import { makeTenant, QueryApi, startQueryApi, Tenant, write } from "./harness";

describe("query time series", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  let api: QueryApi;
  let tenant: Tenant;
  const path = (q: string) => `/v1/entities/5/timeseries?${q}`;
  const strong = { "X-Consistency-Level": "strong" };

  before(async () => {
    tenant = await makeTenant(db.pool, {
      temperature: ["decimal", true],
      count: ["int", false],
      status: ["string", false],
      door_open: ["bool", false],
    });
    // Every 3 hours from 2026-03-27 00:00Z to 2026-03-31 00:00Z (Europe/Berlin switches to summer time 2026-03-29 02:00 local).
    const readings = [];
    for (let t = Date.parse("2026-03-27T00:00:00Z"), i = 0; t < Date.parse("2026-03-31T00:00:00Z"); t += 3 * 3_600_000, i++) {
      readings.push({ entityId: 5, ts: new Date(t), values: { temperature: i, count: i * 10, status: i % 2 ? "odd" : "even", door_open: i % 3 === 0 } });
    }
    await write(db.pool, tenant, readings);
    api = await startQueryApi(db, { redisUrl: null });
  });
  after(async () => {
    await api?.close();
  });

  it("when asked for raw points, then every reading in [from, to) comes back oldest first, typed", async () => {
    const res = await api.request("GET", path("attributes=temperature,count,status,door_open&from=2026-03-27T00:00:00Z&to=2026-03-27T09:00:00Z"), { tenant, headers: strong });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body.series.temperature).to.deep.equal([
      { ts: "2026-03-27T00:00:00.000Z", value: 0 },
      { ts: "2026-03-27T03:00:00.000Z", value: 1 },
      { ts: "2026-03-27T06:00:00.000Z", value: 2 },
    ]);
    expect(res.body.series.count.map((p: { value: unknown }) => p.value)).to.deep.equal([0, 10, 20]);
    expect(res.body.series.status.map((p: { value: unknown }) => p.value)).to.deep.equal(["even", "odd", "even"]);
    expect(res.body.series.door_open.map((p: { value: unknown }) => p.value)).to.deep.equal([true, false, false]);
    expect(res.body.truncated).to.equal(false);
    expect(res.headers.get("x-data-source")).to.equal("primary");
    expect(res.body._metadata.cache_status).to.equal("bypass");
  });

  it("when raw points exceed the limit, then the series is cut and says so", async () => {
    const res = await api.request("GET", path("attributes=temperature&from=2026-03-27T00:00:00Z&to=2026-03-31T00:00:00Z&limit=5"), { tenant, headers: strong });
    expect(res.body.series.temperature).to.have.length(5);
    expect(res.body.truncated).to.equal(true);
  });

  it("when daily buckets are asked in Europe/Berlin across the DST switch, then each bucket starts at local midnight (23:00Z before, 22:00Z after)", async () => {
    const res = await api.request(
      "GET",
      path("attributes=temperature&from=2026-03-27T00:00:00Z&to=2026-03-31T00:00:00Z&interval=1d&agg=count&tz=europe/berlin"),
      { tenant, headers: strong },
    );
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body.tz).to.equal("Europe/Berlin");
    const buckets = res.body.series.temperature;
    expect(buckets.map((b: { ts: string }) => b.ts)).to.deep.equal([
      "2026-03-26T23:00:00.000Z", // Fri 27 March, 00:00 CET
      "2026-03-27T23:00:00.000Z", // Sat 28 March, 00:00 CET
      "2026-03-28T23:00:00.000Z", // Sun 29 March, 00:00 CET: a 23-hour day (02:00 CET -> 03:00 CEST)
      "2026-03-29T22:00:00.000Z", // Mon 30 March, 00:00 CEST
    ]);
    // Readings every 3 h at 00Z..21Z: each local day holds its UTC day's 8 (Sunday's 21Z is 23:00 CEST, still Sunday).
    expect(buckets.map((b: { value: number }) => b.value)).to.deep.equal([8, 8, 8, 8]);
    // The same in UTC: buckets at UTC midnights.
    const utc = await api.request("GET", path("attributes=temperature&from=2026-03-27T00:00:00Z&to=2026-03-31T00:00:00Z&interval=1d&agg=count"), { tenant, headers: strong });
    expect(utc.body.series.temperature.map((b: { ts: string }) => b.ts)).to.deep.equal([
      "2026-03-27T00:00:00.000Z",
      "2026-03-28T00:00:00.000Z",
      "2026-03-29T00:00:00.000Z",
      "2026-03-30T00:00:00.000Z",
    ]);
    // Hourly buckets in Berlin on the switch day: local 01:00 CET (00Z) is followed by 03:00 CEST (01Z), no 02:00.
    const hourly = await api.request(
      "GET",
      path("attributes=temperature&from=2026-03-28T23:00:00Z&to=2026-03-29T02:00:00Z&interval=1h&agg=count&tz=Europe/Berlin"),
      { tenant, headers: strong },
    );
    expect(hourly.body.series.temperature.map((b: { ts: string }) => b.ts)).to.deep.equal(["2026-03-29T00:00:00.000Z"]);
  });

  it("computes avg/min/max/sum/last per bucket", async () => {
    const q = (agg: string, attr = "temperature") =>
      api.request("GET", path(`attributes=${attr}&from=2026-03-27T00:00:00Z&to=2026-03-28T00:00:00Z&interval=12h&agg=${agg}`), { tenant, headers: strong });
    // UTC day 27: temperatures 0..7; 12-hour buckets from UTC midnight: [0,1,2,3] and [4,5,6,7].
    expect((await q("avg")).body.series.temperature.map((p: { value: number }) => p.value)).to.deep.equal([1.5, 5.5]);
    expect((await q("min")).body.series.temperature.map((p: { value: number }) => p.value)).to.deep.equal([0, 4]);
    expect((await q("max")).body.series.temperature.map((p: { value: number }) => p.value)).to.deep.equal([3, 7]);
    expect((await q("sum", "count")).body.series.count.map((p: { value: number }) => p.value)).to.deep.equal([60, 220]);
    expect((await q("last", "status")).body.series.status.map((p: { value: string }) => p.value)).to.deep.equal(["odd", "odd"]);
    expect((await q("count", "door_open")).body.series.door_open.map((p: { ts: string }) => p.ts)).to.deep.equal([
      "2026-03-27T00:00:00.000Z",
      "2026-03-27T12:00:00.000Z",
    ]);
  });

  it("when the time range is missing, reversed, unbounded or too long, then 400 names the field", async () => {
    const cases: Array<[string, string]> = [
      ["attributes=temperature&to=2026-03-28T00:00:00Z", "from"],
      ["attributes=temperature&from=2026-03-27T00:00:00Z", "to"],
      ["attributes=temperature&from=2026-03-28T00:00:00Z&to=2026-03-27T00:00:00Z", "to"],
      ["attributes=temperature&from=2026-01-01T00:00:00Z&to=2026-03-27T00:00:00Z", "to"],
      ["attributes=temperature&from=yesterday&to=2026-03-27T00:00:00Z", "from"],
      ["from=2026-03-27T00:00:00Z&to=2026-03-28T00:00:00Z", "attributes"],
      ["attributes=nope&from=2026-03-27T00:00:00Z&to=2026-03-28T00:00:00Z", "attributes"],
      ["attributes=temperature&from=2026-03-27T00:00:00Z&to=2026-03-28T00:00:00Z&interval=7m", "interval"],
      ["attributes=temperature&from=2026-03-27T00:00:00Z&to=2026-03-28T00:00:00Z&interval=1h&agg=median", "agg"],
      ["attributes=status&from=2026-03-27T00:00:00Z&to=2026-03-28T00:00:00Z&interval=1h&agg=avg", "agg"],
      ["attributes=temperature&from=2026-03-27T00:00:00Z&to=2026-03-28T00:00:00Z&interval=1d&tz=Mars/Olympus_Mons", "tz"],
      ["attributes=temperature&from=2026-03-27T00:00:00Z&to=2026-03-28T00:00:00Z&interval=1d&tz=UTC';DROP TABLE x;--", "tz"],
    ];
    for (const [q, field] of cases) {
      const res = await api.request("GET", path(q), { tenant, headers: strong });
      expect(res.status, q).to.equal(400);
      expect(res.body.error.field, q).to.equal(field);
    }
  });

  it("when the span is within TIMESERIES_MAX_SPAN_DAYS, then it is accepted (31 days by default)", async () => {
    const res = await api.request("GET", path("attributes=temperature&from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z&interval=1w&agg=count"), { tenant, headers: strong });
    expect(res.status).to.equal(200);
    // Weeks start on Monday local (UTC here): 2026-03-23 is a Monday, and 2026-03-30 the next.
    expect(res.body.series.temperature.map((p: { ts: string }) => p.ts)).to.deep.equal(["2026-03-23T00:00:00.000Z", "2026-03-30T00:00:00.000Z"]);
  });

  it("when the entity does not exist, then 404", async () => {
    const res = await api.request("GET", "/v1/entities/999/timeseries?attributes=temperature&from=2026-03-27T00:00:00Z&to=2026-03-28T00:00:00Z", { tenant });
    expect(res.status).to.equal(404);
    expect(res.body.error.code).to.equal("not_found");
  });
});

describe("query time series: partition pruning", function () {
  this.timeout(60_000);
  const db = useTestDatabase();

  it("when a range covers one day, then the statement reads only that day's history partition", async () => {
    const { rawSeriesSql } = await import("../../../app/query/sql/timeseries");
    const tenant = await makeTenant(db.pool, { temperature: ["decimal", true] });
    const day = new Date();
    day.setUTCHours(0, 0, 0, 0);
    const client = await db.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SET LOCAL ROLE atlas_app");
      await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenant.id]);
      // With parameters bound the way the service sends them (unnamed statement, custom plan): pruned at plan time.
      const { rows } = await client.query(`EXPLAIN (COSTS OFF) ${rawSeriesSql("decimal")}`, [
        tenant.id,
        5,
        tenant.attrs.get("temperature"),
        day,
        new Date(day.getTime() + 86_400_000),
        100,
      ]);
      const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
      const partitions = new Set([...plan.matchAll(/ on (entity_values_ts_\w+)/g)].map((m) => m[1]));
      expect(partitions.size, plan).to.equal(1);
      expect(plan).to.not.contain("entity_values_ts_default");
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });
});
