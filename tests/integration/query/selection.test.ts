/**
 * Reading some attributes of an entity (`?attributes=`), many entities at
 * once (POST /v1/entities/batch-get), and the time every answer is complete
 * up to (X-Data-As-Of).
 */
import { expect } from "chai";
import { useTestDatabase } from "../../helpers/db";
import { eventually, makeTenant, QueryApi, startQueryApi, Tenant, waitForReplica, write } from "./harness";

describe("query: attribute selection, batch-get and X-Data-As-Of", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  let api: QueryApi;
  let a: Tenant;
  let b: Tenant;
  const device = new Date(Date.now() - 60_000);

  before(async () => {
    a = await makeTenant(db.pool, { status: ["string", true], temperature: ["decimal", false], battery: ["int", false] });
    b = await makeTenant(db.pool, { status: ["string", true] });
    await write(db.pool, a, [
      { entityId: 1, ts: device, values: { status: "online", temperature: 21.5, battery: 80 } },
      { entityId: 2, ts: device, values: { status: "offline", temperature: 19 } },
      { entityId: 3, ts: device, values: { status: "online" } },
    ]);
    await write(db.pool, b, [{ entityId: 900, ts: device, values: { status: "b-only" } }]);
    await waitForReplica(db);
    api = await startQueryApi(db);
    await eventually(() => api.replicaSet.snapshot()[0].lag_seconds !== null, 15_000, "first lag measurement");
  });
  after(async () => {
    await api?.close();
  });

  describe("GET /v1/entities/{id}?attributes=", () => {
    for (const level of ["strong", "eventual"]) {
      it(`when attributes=temperature,status is asked (${level}, twice: miss then cache), then only those come back, with their device times`, async () => {
        for (let i = 0; i < 2; i++) {
          const res = await api.request("GET", "/v1/entities/1?attributes=temperature,status", { tenant: a, headers: { "X-Consistency-Level": level } });
          expect(res.status).to.equal(200);
          expect(Object.keys(res.body.attributes).sort()).to.deep.equal(["status", "temperature"]);
          expect(res.body.attributes.temperature).to.deep.equal({ value: 21.5, ts: device.toISOString() });
        }
      });
    }

    it("when the whole entity was cached first, then a selection still answers only the selected attribute, and the full read still has all", async () => {
      const full = await api.request("GET", "/v1/entities/1", { tenant: a });
      expect(Object.keys(full.body.attributes).sort()).to.deep.equal(["battery", "status", "temperature"]);
      const some = await api.request("GET", "/v1/entities/1?attributes=battery", { tenant: a });
      expect(some.body.attributes).to.deep.equal({ battery: { value: 80, ts: device.toISOString() } });
      expect((await api.request("GET", "/v1/entities/1", { tenant: a })).body.attributes).to.have.all.keys("battery", "status", "temperature");
    });

    it("when a selected attribute is registered but the entity has no value for it, then it is absent, as in the full answer", async () => {
      const res = await api.request("GET", "/v1/entities/3?attributes=battery,status", { tenant: a });
      expect(res.status).to.equal(200);
      expect(Object.keys(res.body.attributes)).to.deep.equal(["status"]);
    });

    it("when a selected attribute is not registered for the tenant (another tenant's, or a typo), then 400 unknown_attributes naming it", async () => {
      const res = await api.request("GET", "/v1/entities/1?attributes=status,temprature", { tenant: a });
      expect(res.status).to.equal(400);
      expect(res.body.error).to.include({ code: "unknown_attributes", field: "attributes" });
      expect(res.body.error.message).to.contain("temprature");
      const asB = await api.request("GET", "/v1/entities/900?attributes=temperature", { tenant: b });
      expect(asB.status).to.equal(400);
    });

    it("when attributes= is empty, then 400 naming attributes", async () => {
      const res = await api.request("GET", "/v1/entities/1?attributes=", { tenant: a });
      expect(res.status).to.equal(400);
      expect(res.body.error.field).to.equal("attributes");
    });
  });

  describe("POST /v1/entities/batch-get", () => {
    it("when ids of the tenant, an unknown id, a duplicate and another tenant's id are asked, then the found ones come in request order once, and the unknown and the foreign id are both listed as missing", async () => {
      const res = await api.request("POST", "/v1/entities/batch-get", {
        tenant: a,
        body: { entity_ids: [2, 1, 2, 77, 900], attributes: ["status"] },
        headers: { "X-Consistency-Level": "strong" },
      });
      expect(res.status).to.equal(200);
      expect(res.body.entities.map((e: { entity_id: number }) => e.entity_id)).to.deep.equal([2, 1]);
      expect(res.body.entities[0].attributes).to.deep.equal({ status: { value: "offline", ts: device.toISOString() } });
      expect(res.body.missing).to.deep.equal([77, 900]);
      expect(JSON.stringify(res.body)).to.not.contain("b-only");
      expect(res.headers.get("x-data-source")).to.equal("primary");
    });

    it("when read eventually without a selection, then every attribute comes back, from a replica within budget", async () => {
      const res = await api.request("POST", "/v1/entities/batch-get", { tenant: a, body: { entity_ids: [1, 3] } });
      expect(res.status).to.equal(200);
      expect(res.body.entities[0].attributes).to.have.all.keys("battery", "status", "temperature");
      expect(res.body.missing).to.deep.equal([]);
      expect(res.headers.get("x-data-source")).to.match(/^(primary|replica-1)$/);
      expect(res.body._metadata.cache_status).to.equal("bypass");
    });

    const bad: Array<[string, unknown, string]> = [
      ["no entity_ids", {}, "entity_ids"],
      ["an empty list", { entity_ids: [] }, "entity_ids"],
      ["more than 1,000 ids", { entity_ids: Array.from({ length: 1001 }, (_, i) => i + 1) }, "entity_ids"],
      ["a zero id", { entity_ids: [1, 0] }, "entity_ids[1]"],
      ["a fractional id", { entity_ids: [1.5] }, "entity_ids[0]"],
      ["a string that is not an id", { entity_ids: ["seven"] }, "entity_ids[0]"],
      ["attributes not an array of names", { entity_ids: [1], attributes: "status" }, "attributes"],
      ["an unknown field", { entity_ids: [1], attribute: ["status"] }, "attribute"],
    ];
    for (const [what, body, field] of bad) {
      it(`when the body has ${what}, then 400 naming ${field}`, async () => {
        const res = await api.request("POST", "/v1/entities/batch-get", { tenant: a, body });
        expect(res.status).to.equal(400);
        expect(res.body.error.field).to.equal(field);
      });
    }

    it("when an id past 2^53 is sent as a string, then it is read exactly and reported missing as that string", async () => {
      const res = await api.request("POST", "/v1/entities/batch-get", { tenant: a, body: { entity_ids: ["9007199254740993"] } });
      expect(res.status).to.equal(200);
      expect(res.body.missing).to.deep.equal(["9007199254740993"]);
    });
  });

  describe("X-Data-As-Of on every answer", () => {
    it("when the primary answers, then as-of is the answer's own time (lag 0), in the header and in _metadata", async () => {
      const before = Date.now();
      const res = await api.request("GET", "/v1/entities/1", { tenant: a, headers: { "X-Consistency-Level": "strong" } });
      const asOf = Date.parse(res.headers.get("x-data-as-of")!);
      expect(asOf).to.be.within(before - 5, Date.now());
      expect(res.body._metadata.as_of).to.equal(res.headers.get("x-data-as-of"));
    });

    it("when a replica or the cache answers, then as-of is the answer's time minus its reported lag", async () => {
      for (const path of ["/v1/entities/2", "/v1/entities/2"]) {
        const sent = Date.now();
        const res = await api.request("GET", path, { tenant: a });
        const lag = Number(res.headers.get("x-data-lag-seconds"));
        const asOf = Date.parse(res.headers.get("x-data-as-of")!);
        expect(asOf).to.be.within(sent - lag * 1000 - 5, Date.now() - lag * 1000 + 5);
      }
    });

    it("when a search or a time series answers, then it carries X-Data-As-Of too", async () => {
      const search = await api.request("POST", "/v1/entities/search", { tenant: a, body: {} });
      expect(search.headers.get("x-data-as-of")).to.match(/^\d{4}-\d\d-\d\dT/);
      const from = new Date(device.getTime() - 3_600_000).toISOString();
      const ts = await api.request("GET", `/v1/entities/1/timeseries?attributes=temperature&from=${from}&to=${new Date().toISOString()}`, { tenant: a });
      expect(ts.status).to.equal(200);
      expect(ts.headers.get("x-data-as-of")).to.match(/^\d{4}-\d\d-\d\dT/);
    });
  });
});
