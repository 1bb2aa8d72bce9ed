/**
 * Tenant B never sees tenant A's entities via any endpoint, on any source
 * (primary, replica, cache), and malformed requests get 400 naming the field.
 */
import { expect } from "chai";
import { useTestDatabase } from "../../helpers/db";
import { eventually, makeTenant, QueryApi, startQueryApi, Tenant, waitForReplica, write } from "./harness";

describe("query tenant isolation", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  let api: QueryApi;
  let a: Tenant;
  let b: Tenant;

  before(async () => {
    a = await makeTenant(db.pool, { status: ["string", true], temperature: ["decimal", false] });
    b = await makeTenant(db.pool, { status: ["string", true] });
    await write(db.pool, a, [{ entityId: 100, ts: new Date(), values: { status: "secret", temperature: 1 } }]);
    await write(db.pool, b, [{ entityId: 200, ts: new Date(), values: { status: "mine" } }]);
    await waitForReplica(db);
    api = await startQueryApi(db);
    await eventually(() => api.replicaSet.snapshot()[0].lag_seconds !== null, 15_000, "first lag measurement");
    // A reads its entity so a cached copy exists too.
    for (let i = 0; i < 2; i++) expect((await api.request("GET", "/v1/entities/100", { tenant: a })).status).to.equal(200);
  });
  after(async () => {
    await api?.close();
  });

  for (const level of ["strong", "eventual"]) {
    it(`when tenant B asks for tenant A's entity (${level}), then 404 not_found, never 403`, async () => {
      const res = await api.request("GET", "/v1/entities/100", { tenant: b, headers: { "X-Consistency-Level": level } });
      expect(res.status).to.equal(404);
      expect(res.body.error.code).to.equal("not_found");
      expect(JSON.stringify(res.body)).to.not.contain("secret");
      // Even a 404 says which source answered (from a lagging replica, absence may be news).
      expect(res.headers.get("x-data-source")).to.match(level === "strong" ? /^primary$/ : /^(primary|replica-1)$/);
    });

    it(`when tenant B searches (${level}), then only B's entities come back`, async () => {
      const all = await api.request("POST", "/v1/entities/search", { tenant: b, body: {}, headers: { "X-Consistency-Level": level } });
      expect(all.body.entities.map((e: { entity_id: number }) => e.entity_id)).to.deep.equal([200]);
      const filtered = await api.request("POST", "/v1/entities/search", {
        tenant: b,
        body: { filters: [{ attribute: "status", op: "eq", value: "secret" }] },
        headers: { "X-Consistency-Level": level },
      });
      expect(filtered.body.entities).to.deep.equal([]);
    });

    it(`when tenant B asks for tenant A's time series (${level}), then 404`, async () => {
      const res = await api.request("GET", "/v1/entities/100/timeseries?attributes=status&from=2026-01-01T00:00:00Z&to=2026-01-30T00:00:00Z", {
        tenant: b,
        headers: { "X-Consistency-Level": level },
      });
      expect(res.status).to.equal(404);
    });
  }

  it("when tenant B filters on an attribute only tenant A has, then 400 unknown_attribute", async () => {
    // A's dictionary is not B's: 'temperature' exists only for A.
    const res = await api.request("POST", "/v1/entities/search", { tenant: b, body: { filters: [{ attribute: "temperature", op: "gt", value: 0 }] } });
    expect(res.status).to.equal(400);
    expect(res.body.error).to.include({ code: "unknown_attribute", field: "filters[0].attribute" });
  });

  it("when tenant B presents tenant A's search cursor, then 400 invalid_cursor", async () => {
    await write(db.pool, a, [{ entityId: 101, ts: new Date(), values: { status: "secret" } }]);
    const page = await api.request("POST", "/v1/entities/search", { tenant: a, body: { limit: 1 }, headers: { "X-Consistency-Level": "strong" } });
    expect(page.body.next_cursor).to.be.a("string");
    const res = await api.request("POST", "/v1/entities/search", { tenant: b, body: { limit: 1, cursor: page.body.next_cursor } });
    expect(res.status).to.equal(400);
    expect(res.body.error).to.include({ code: "invalid_cursor", field: "cursor" });
  });

  it("when there is no key or an unknown key, then 401", async () => {
    expect((await api.request("GET", "/v1/entities/100")).status).to.equal(401);
    const res = await api.request("GET", "/v1/entities/100", { headers: { authorization: "Bearer atk_nope" } });
    expect(res.status).to.equal(401);
  });
});

describe("query request validation", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  let api: QueryApi;
  let t: Tenant;

  before(async () => {
    t = await makeTenant(db.pool, { status: ["string", true], priority: ["int", true], firmware: ["string", false] });
    api = await startQueryApi(db, { redisUrl: null });
  });
  after(async () => {
    await api?.close();
  });

  const search = (body: unknown, headers: Record<string, string> = {}) => api.request("POST", "/v1/entities/search", { tenant: t, body, headers });

  it("when filters are malformed, then 400 names the filter and its part", async () => {
    const cases: Array<[unknown, string, string]> = [
      [{ filters: "status=online" }, "filters", "invalid_filter"],
      [{ filters: [{ attribute: "status", op: "eq" }] }, "filters[0].value", "invalid_filter"],
      [{ filters: [{ attribute: "status", op: "eq", value: "x" }, { attribute: "priority", op: "between", value: [1, 2] }] }, "filters[1].op", "invalid_filter"],
      [{ filters: [{ attribute: "priority", op: "gte", value: "8" }] }, "filters[0].value", "invalid_filter"],
      [{ filters: [{ attribute: "priority", op: "in", value: 8 }] }, "filters[0].value", "invalid_filter"],
      [{ filters: [{ attribute: "nope", op: "eq", value: 1 }] }, "filters[0].attribute", "unknown_attribute"],
      [{ filters: [{ attribute: "status", op: "eq", value: "x" }, { attribute: "firmware", op: "eq", value: "1.0" }] }, "filters[1].attribute", "attribute_not_hot"],
      [{ filters: [], cursor: 12 }, "cursor", "invalid_cursor"],
      [{ filters: [], cursor: "abc.def" }, "cursor", "invalid_cursor"],
      [[1, 2], "body", "invalid_body"],
    ];
    for (const [body, field, code] of cases) {
      const res = await search(body);
      expect(res.status, JSON.stringify(body)).to.equal(400);
      expect(res.body.error, JSON.stringify(body)).to.include({ field, code });
    }
    const unknown = await search({ filters: [{ attribute: "nope", op: "eq", value: 1 }] });
    expect(unknown.body.error.message).to.contain("nope");
  });

  it("when the body is not JSON, then 400 malformed_json; when it is not declared JSON, then 415", async () => {
    const bad = await api.request("POST", "/v1/entities/search", { tenant: t, body: "{not json" });
    expect(bad.status).to.equal(400);
    expect(bad.body.error.code).to.equal("malformed_json");
    const text = await api.request("POST", "/v1/entities/search", { tenant: t, body: "{}", headers: { "content-type": "text/plain" } });
    expect(text.status).to.equal(415);
  });

  it("when the entity id is not a positive integer, then 400 names id", async () => {
    for (const id of ["abc", "0", "-1", "1.5", "99999999999999999999"]) {
      const res = await api.request("GET", `/v1/entities/${id}`, { tenant: t });
      expect(res.status, id).to.equal(400);
      expect(res.body.error.field).to.equal("id");
    }
  });

  it("when the analytics routes have no warehouse, then 503 warehouse_unavailable with Retry-After", async () => {
    const res = await api.request("GET", "/v1/analytics/entities/count-by-type", { tenant: t });
    expect(res.status).to.equal(503);
    expect(res.body.error.code).to.equal("warehouse_unavailable");
    expect(res.headers.get("retry-after")).to.equal("30");
  });
});
