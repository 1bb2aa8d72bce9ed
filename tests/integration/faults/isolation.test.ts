/**
 * Scenario 8 of the fault, abuse and isolation suite: tenant B probing tenant
 * A's entity ids, attribute names and cursors learns nothing, on every
 * endpoint of both APIs. The rule is stronger than "B gets no data"
 * (tests/integration/query/isolation.test.ts and cdc/analytics.test.ts
 * check that): B's answer about something of A's is indistinguishable from
 * its answer about something that never existed — same status, code, field
 * and message (with the probed id or name itself masked).
 */
import { expect } from "chai";
import { useTestDatabase, type TestDatabase } from "../../helpers/db";
import { startApi, testConfig, type RunningApi } from "../ingest/harness";
import { makeTenant, startQueryApi, waitForReplica, write, type QueryApi, type Tenant } from "../query/harness";
import { createWarehouse, send, warehouseFacts, type RawRequest, type RawResponse } from "./harness";

interface Probe {
  endpoint: string;
  /** What of A's B probes. */
  what: string;
  api: "ingest" | "query";
  /** B's request about A's thing, and the same request about a thing that never existed. */
  foreign: () => RawRequest;
  never: () => RawRequest;
  /** The probed value in each request (masked in the messages before comparing). */
  tokens: [string, string];
  status: number;
  code?: string;
}

describe("fault suite, isolation: what tenant B learns about tenant A's ids, names and cursors is what it learns about things that never existed", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  let wh: TestDatabase;
  let ingest: RunningApi;
  let query: QueryApi;
  let a: Tenant;
  let b: Tenant;
  let cursorOfA: string;
  const hourAgo = new Date(Date.now() - 3_600_000);
  const FROM = new Date(Date.now() - 86_400_000).toISOString();
  const TO = new Date(Date.now() + 60_000).toISOString();

  before(async function () {
    this.timeout(120_000);
    wh = await createWarehouse();
    a = await makeTenant(db.pool, { status: ["string", true], temperature: ["decimal", true], secret_a: ["decimal", true] });
    b = await makeTenant(db.pool, { status: ["string", true], temperature: ["decimal", true] });
    await write(db.pool, a, [
      { entityId: 100, ts: hourAgo, values: { status: "a-secret-value", temperature: 1, secret_a: 7 } },
      { entityId: 101, ts: hourAgo, values: { status: "a-secret-value", temperature: 2 } },
    ]);
    await write(db.pool, b, [{ entityId: 200, ts: hourAgo, values: { status: "mine", temperature: 3 } }]);
    await warehouseFacts(wh.pool, a.id, a.attrs.get("secret_a")!, "secret_a", 100, [[hourAgo, 7]]);
    await warehouseFacts(wh.pool, b.id, b.attrs.get("temperature")!, "temperature", 200, [[hourAgo, 3]]);
    ingest = await startApi({ config: testConfig(db.url, { KAFKA_BROKERS: undefined, TENANT_RATE_LIMIT_RPS: "100000" }), pool: db.pool, mode: "direct" });
    await waitForReplica(db); // else an eventual read may find the replica a moment behind these writes
    query = await startQueryApi(db, { warehouseUrl: wh.url });
    // A reads its entity (a cached copy exists) and takes a search cursor.
    for (let i = 0; i < 2; i++) expect((await query.request("GET", "/v1/entities/100", { tenant: a })).status).to.equal(200);
    const page = await query.request("POST", "/v1/entities/search", { tenant: a, body: { limit: 1 }, headers: { "X-Consistency-Level": "strong" } });
    cursorOfA = page.body.next_cursor;
    expect(cursorOfA).to.be.a("string");
  });
  after(async () => {
    await ingest?.close();
    await query?.close();
    await wh?.drop();
  });

  const asB = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): RawRequest => ({
    method,
    path,
    headers: { authorization: `Bearer ${b.key}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const series = (id: number, attrs: string, extra = "") => asB("GET", `/v1/entities/${id}/timeseries?attributes=${attrs}&from=${FROM}&to=${TO}${extra}`);
  const filterOn = (attribute: string, value: unknown = 1) => asB("POST", "/v1/entities/search", { filters: [{ attribute, op: "eq", value }] });
  const reading = (entityId: number, values: Record<string, unknown>, entityType = "sensor") =>
    asB("POST", "/v1/telemetry", { readings: [{ entity_id: entityId, entity_type: entityType, ts: new Date().toISOString(), values }] });
  /** A cursor of the right shape for B that nobody ever issued. */
  const neverIssued = () => {
    const payload = Buffer.from(JSON.stringify({ v: 1, t: b.id, f: "x", u: "2026-01-01 00:00:00+00", e: "1" })).toString("base64url");
    return `${payload}.${cursorOfA.split(".")[1]}`;
  };

  const probes: Probe[] = [];
  const entityId = (endpoint: string, api: Probe["api"], build: (id: number) => RawRequest, status: number, code?: string) =>
    probes.push({ endpoint, what: "entity id", api, foreign: () => build(100), never: () => build(999_999), tokens: ["100", "999999"], status, code });
  const attributeName = (endpoint: string, api: Probe["api"], build: (name: string) => RawRequest, status: number, code?: string) =>
    probes.push({ endpoint, what: "attribute name", api, foreign: () => build("secret_a"), never: () => build("never_was"), tokens: ["secret_a", "never_was"], status, code });

  entityId("GET /v1/entities/{id} (strong)", "query", (id) => asB("GET", `/v1/entities/${id}`, undefined, { "x-consistency-level": "strong" }), 404, "not_found");
  entityId("GET /v1/entities/{id} (eventual, A's copy cached)", "query", (id) => asB("GET", `/v1/entities/${id}`), 404, "not_found");
  entityId("GET /v1/entities/{id}/timeseries (raw)", "query", (id) => series(id, "status"), 404, "not_found");
  entityId("GET /v1/entities/{id}/timeseries (1h avg)", "query", (id) => series(id, "temperature", "&interval=1h&agg=avg"), 404, "not_found");
  entityId("GET /v1/entities/{id}/timeseries (strong)", "query", (id) => ({ ...series(id, "status"), headers: { ...series(id, "status").headers, "x-consistency-level": "strong" } }), 404, "not_found");
  entityId("POST /v1/entities/search (eq entity's value)", "query", (id) => filterOn("status", id === 100 ? "a-secret-value" : "never-a-value"), 200);
  entityId("POST /v1/telemetry (a reading for that id)", "ingest", (id) => reading(id, { status: "b-writes" }, "valve"), 202);
  attributeName("GET /v1/entities/{id}/timeseries", "query", (name) => series(200, name), 400, "unknown_attribute");
  attributeName("POST /v1/entities/search (filter)", "query", (name) => filterOn(name), 400, "unknown_attribute");
  attributeName("GET /v1/analytics/attributes/{name}/hourly", "query", (name) => asB("GET", `/v1/analytics/attributes/${name}/hourly?from=${FROM}&to=${TO}`), 404, "not_found");
  attributeName("GET /v1/analytics/attributes/{name}/daily", "query", (name) => asB("GET", `/v1/analytics/attributes/${name}/daily?from=${FROM}&to=${TO}`), 404, "not_found");
  attributeName("POST /v1/telemetry (a value under that name)", "ingest", (name) => reading(200, { [name]: 1 }), 400, "invalid_readings");
  attributeName("POST /v1/attributes (register it as another type)", "ingest", (name) => asB("POST", "/v1/attributes", { name, data_type: "string" }), 201);
  probes.push({
    endpoint: "POST /v1/entities/search (cursor)",
    what: "search cursor",
    api: "query",
    foreign: () => asB("POST", "/v1/entities/search", { limit: 1, cursor: cursorOfA }),
    never: () => asB("POST", "/v1/entities/search", { limit: 1, cursor: neverIssued() }),
    tokens: ["", ""],
    status: 400,
    code: "invalid_cursor",
  });

  const view = (r: RawResponse, token: string) => {
    const body = typeof r.body === "object" && r.body !== null ? { ...r.body } : r.body;
    // Source, lag and duration are routing, not existence; ids and times of a new row are its own.
    if (body && typeof body === "object") for (const k of ["_metadata", "attribute_id", "created_at"]) delete body[k];
    const text = JSON.stringify(body);
    return { status: r.status, body: token ? text.split(token).join("<probed>") : text };
  };

  for (const p of probes) {
    const outcome = p.code ? `${p.status} ${p.code}` : String(p.status);
    it(`when tenant B sends ${p.endpoint} with tenant A's ${p.what}, then ${outcome} exactly as for one that never existed`, async () => {
      const never = await send(urls()[p.api], p.never());
      const foreign = await send(urls()[p.api], p.foreign());
      expect(foreign.status, foreign.text).to.equal(p.status);
      if (p.code) expect(foreign.body.error.code, foreign.text).to.equal(p.code);
      expect(view(foreign, p.tokens[0])).to.deep.equal(view(never, p.tokens[1]));
      expect(foreign.text).to.not.match(/a-secret-value|secret_a.*decimal|forbidden/i);
    });
  }
  const urls = () => ({ ingest: ingest.url, query: query.url });

  it("when tenant B writes to tenant A's entity id, then A's entity is untouched and B's entity of that id is B's own", async () => {
    const ofA = await query.request("GET", "/v1/entities/100", { tenant: a, headers: { "X-Consistency-Level": "strong" } });
    expect(ofA.status).to.equal(200);
    expect(ofA.body).to.deep.include({ entity_type: "sensor" });
    expect(ofA.body.attributes.status.value).to.equal("a-secret-value");
    const ofB = await query.request("GET", "/v1/entities/100", { tenant: b, headers: { "X-Consistency-Level": "strong" } });
    expect(ofB.status).to.equal(200);
    expect(ofB.body.entity_type).to.equal("valve");
    expect(Object.keys(ofB.body.attributes)).to.deep.equal(["status"]);
  });

  it("when tenant B registers tenant A's attribute name with another type, then A's attribute keeps its type and B lists only its own", async () => {
    const listB = await send(ingest.url, asB("GET", "/v1/attributes"));
    const namesB = listB.body.attributes.map((x: { name: string }) => x.name).sort();
    expect(namesB).to.deep.equal(["never_was", "secret_a", "status", "temperature"]);
    expect(listB.body.attributes.find((x: { name: string }) => x.name === "secret_a").data_type).to.equal("string");
    const { rows } = await db.pool.query("SELECT data_type FROM attributes WHERE tenant_id = $1 AND name = 'secret_a'", [a.id]);
    expect(rows).to.deep.equal([{ data_type: "decimal" }]);
  });
});
