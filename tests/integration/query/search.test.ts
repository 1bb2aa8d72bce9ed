/**
 * Search filters and keyset pagination return exactly the matching set, on a
 * seeded data set of a few thousand entities with random hot values, checked
 * against a plain oracle (every projection row read with SQL, filtered in JS).
 */
import { expect } from "chai";
import { useTestDatabase } from "../../helpers/db";
import { makeTenant, QueryApi, Reading, startQueryApi, Tenant, waitForReplica, write } from "./harness";

type Filter = { attribute: string; op: string; value: unknown };
type Row = { entity_id: number; hot: Record<string, unknown>; updated_at: string };

const STATUSES = ["online", "offline", "warning", "error", "maint"];
const ENTITIES = 3000;

/** Deterministic pseudo-random numbers (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function matches(row: Row, f: Filter): boolean {
  const v = row.hot[f.attribute];
  if (v === undefined) return false;
  const cmp = (a: unknown, b: unknown): number => {
    if (f.attribute === "seen_at") return Date.parse(a as string) - Date.parse(b as string);
    if (typeof a === "number") return a - (b as number);
    return a === b ? 0 : (a as string) < (b as string) ? -1 : 1;
  };
  switch (f.op) {
    case "eq":
      return cmp(v, f.value) === 0;
    case "in":
      return (f.value as unknown[]).some((x) => cmp(v, x) === 0);
    case "gt":
      return cmp(v, f.value) > 0;
    case "gte":
      return cmp(v, f.value) >= 0;
    case "lt":
      return cmp(v, f.value) < 0;
    case "lte":
      return cmp(v, f.value) <= 0;
  }
  throw new Error(`op ${f.op}`);
}

describe("query search: filters and pagination against an oracle", function () {
  this.timeout(180_000);
  const db = useTestDatabase();
  let api: QueryApi;
  // The same searches through each step after a window of 50 rows (which
  // never fills a page of a selective filter): walking on past the window
  // (any expected walk is within budget), the GIN candidates (no walk is),
  // and the fallback (at most 20 candidates: every common filter overflows
  // it back to the ordered walk).
  const plans = {
    walk: { windowRows: 50, candidateCap: 5_000, walkBudgetRows: Infinity },
    gin: { windowRows: 50, candidateCap: 5_000, walkBudgetRows: 0 },
    fallback: { windowRows: 50, candidateCap: 20, walkBudgetRows: 0 },
  };
  const planned: Record<string, QueryApi> = {};
  let tenant: Tenant;
  let other: Tenant;
  let rows: Row[];

  before(async () => {
    const attrs: Record<string, [string, boolean]> = {
      status: ["string", true],
      priority: ["int", true],
      temperature: ["decimal", true],
      online: ["bool", true],
      seen_at: ["timestamp", true],
      region: ["string", true],
      firmware: ["string", false],
    };
    tenant = await makeTenant(db.pool, attrs);
    other = await makeTenant(db.pool, attrs);
    const rand = rng(42);
    const base = Date.parse("2026-11-20T00:00:00Z");
    const readings = (offset: number): Reading[] =>
      Array.from({ length: ENTITIES }, (_, i) => {
        const values: Record<string, unknown> = { firmware: `v${i % 3}` };
        if (rand() < 0.95) values.status = STATUSES[Math.floor(rand() * STATUSES.length)];
        if (rand() < 0.9) values.priority = Math.floor(rand() * 11);
        if (rand() < 0.9) values.temperature = Math.round((rand() * 70 - 20) * 10) / 10;
        if (rand() < 0.9) values.online = rand() < 0.5;
        if (rand() < 0.9) values.seen_at = new Date(base + Math.floor(rand() * 10 * 86_400_000)).toISOString();
        if (rand() < 0.9) values.region = `r${Math.floor(rand() * 20)}`;
        // Few distinct update times: many ties, so the entity_id tie-break matters.
        return { entityId: offset + i + 1, ts: new Date(base + Math.floor(rand() * 50) * 60_000), values };
      });
    await write(db.pool, tenant, readings(0));
    // The other tenant has overlapping entity ids and matching values: none may leak in.
    await write(db.pool, other, readings(0));
    await waitForReplica(db);
    const res = await db.pool.query<Row>(
      `SELECT entity_id::int, hot, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS updated_at
       FROM entity_jsonb WHERE tenant_id = $1`,
      [tenant.id],
    );
    rows = res.rows;
    expect(rows).to.have.length(ENTITIES);
    api = await startQueryApi(db, { redisUrl: null });
    for (const [name, searchPlan] of Object.entries(plans)) planned[name] = await startQueryApi(db, { redisUrl: null, searchPlan });
  });
  after(async () => {
    await api?.close();
    for (const p of Object.values(planned)) await p.close();
  });

  function oracle(filters: Filter[]): number[] {
    return rows
      .filter((r) => filters.every((f) => matches(r, f)))
      .sort((a, b) => (a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : b.entity_id - a.entity_id))
      .map((r) => r.entity_id);
  }

  async function searchAll(filters: Filter[], limit: number, via = api): Promise<{ ids: number[]; pages: number }> {
    const ids: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await via.request("POST", "/v1/entities/search", { tenant, body: { filters, limit, cursor } });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.entities.length).to.be.at.most(limit);
      for (const e of res.body.entities) ids.push(e.entity_id);
      cursor = res.body.next_cursor;
      pages++;
      if (cursor !== null) expect(res.body.entities).to.have.length(limit);
    } while (cursor !== null && pages < 10_000);
    return { ids, pages };
  }

  const cases: Array<[string, Filter[]]> = [
    ["no filters", []],
    ["eq on a string", [{ attribute: "status", op: "eq", value: "warning" }]],
    ["in on strings", [{ attribute: "status", op: "in", value: ["online", "maint"] }]],
    ["eq on an int and a bool", [{ attribute: "priority", op: "eq", value: 7 }, { attribute: "online", op: "eq", value: true }]],
    ["in on ints", [{ attribute: "priority", op: "in", value: [0, 5, 10] }]],
    ["in on bools", [{ attribute: "online", op: "in", value: [false] }]],
    ["gte on an int", [{ attribute: "priority", op: "gte", value: 8 }]],
    ["gt and lt on an int (a band)", [{ attribute: "priority", op: "gt", value: 3 }, { attribute: "priority", op: "lt", value: 6 }]],
    ["lte on a decimal with in on strings", [{ attribute: "temperature", op: "lte", value: 0.5 }, { attribute: "status", op: "in", value: ["online", "warning"] }]],
    ["gt on a decimal", [{ attribute: "temperature", op: "gt", value: 45.3 }]],
    ["gt on a timestamp (other zone spelling)", [{ attribute: "seen_at", op: "gt", value: "2026-11-27T12:00:00+02:00" }]],
    ["lt on a timestamp and eq on a string", [{ attribute: "seen_at", op: "lt", value: "2026-11-22T00:00:00Z" }, { attribute: "region", op: "eq", value: "r3" }]],
    ["string range (byte order)", [{ attribute: "region", op: "lt", value: "r15" }, { attribute: "region", op: "gte", value: "r11" }]],
    ["two different eqs on one attribute: nothing", [{ attribute: "priority", op: "eq", value: 5 }, { attribute: "priority", op: "eq", value: 6 }]],
    ["everything at once", [
      { attribute: "status", op: "in", value: ["online", "warning", "error"] },
      { attribute: "priority", op: "gte", value: 2 },
      { attribute: "temperature", op: "lt", value: 30 },
      { attribute: "online", op: "eq", value: true },
      { attribute: "region", op: "in", value: ["r1", "r2", "r3", "r4", "r5", "r6", "r7"] },
    ]],
  ];

  for (const [name, filters] of cases) {
    it(`when searching with ${name}, then every page together is exactly the oracle's set in order, by every plan`, async () => {
      const expected = oracle(filters);
      for (const [plan, via] of [["default", api], ...Object.entries(planned)] as Array<[string, QueryApi]>) {
        for (const limit of expected.length <= 400 ? [7, 1000] : [97, 1000]) {
          const { ids, pages } = await searchAll(filters, limit, via);
          expect(ids, `${plan} plan, limit ${limit}`).to.deep.equal(expected);
          expect(pages).to.equal(Math.max(1, Math.ceil(expected.length / limit)));
        }
      }
    });
  }

  it("when the GIN candidates are asked for, then they are the calling tenant's only, and none without a tenant (fail closed)", async () => {
    const candidates = async (tenantId: string | null) => {
      const c = await db.pool.connect();
      try {
        await c.query("BEGIN");
        await c.query("SET LOCAL ROLE atlas_app");
        if (tenantId) await c.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
        const { rows } = await c.query<{ id: string }>(`SELECT atlas_hot_candidates(ARRAY['{"status":"warning"}']::jsonb[], 100000)::text AS id`);
        return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
      } finally {
        await c.query("ROLLBACK");
        c.release();
      }
    };
    const mine = rows.filter((r) => r.hot.status === "warning").map((r) => r.entity_id).sort((a, b) => a - b);
    expect(mine.length).to.be.greaterThan(0);
    expect(await candidates(tenant.id)).to.deep.equal(mine);
    expect(await candidates(null)).to.deep.equal([]);
  });

  it("when a cursor is reused with other filters, then 400 invalid_cursor", async () => {
    const first = await api.request("POST", "/v1/entities/search", { tenant, body: { filters: [], limit: 10 } });
    expect(first.body.next_cursor).to.be.a("string");
    const res = await api.request("POST", "/v1/entities/search", {
      tenant,
      body: { filters: [{ attribute: "status", op: "eq", value: "online" }], limit: 10, cursor: first.body.next_cursor },
    });
    expect(res.status).to.equal(400);
    expect(res.body.error).to.include({ code: "invalid_cursor", field: "cursor" });
  });

  it("returns the contract's entity shape with every attribute, hot and cold", async () => {
    const res = await api.request("POST", "/v1/entities/search", { tenant, body: { filters: [{ attribute: "priority", op: "eq", value: 3 }], limit: 1 } });
    const e = res.body.entities[0];
    expect(e).to.have.keys("entity_id", "entity_type", "attributes", "updated_at");
    expect(e.attributes.priority).to.deep.include({ value: 3 });
    expect(e.attributes.firmware.value).to.match(/^v\d$/);
    expect(res.body._metadata).to.have.keys("source", "lag_seconds", "consistency", "cache_status", "query_ms", "as_of");
  });

  it("defaults to 100 per page and refuses limits outside 1..1000", async () => {
    const res = await api.request("POST", "/v1/entities/search", { tenant, body: {} });
    expect(res.body.entities).to.have.length(100);
    for (const limit of [0, 1001, 2.5, "10"]) {
      const bad = await api.request("POST", "/v1/entities/search", { tenant, body: { limit } });
      expect(bad.status).to.equal(400);
      expect(bad.body.error.field).to.equal("limit");
    }
  });
});

describe("query search: ints beyond 2^53", function () {
  this.timeout(60_000);
  const db = useTestDatabase();

  it("when an int is beyond 2^53, then it reads back as a string of digits and filters by eq, in and ranges match it exactly", async () => {
    const tenant = await makeTenant(db.pool, { counter: ["int", true] });
    const big = "9007199254740993"; // 2^53 + 1: a JSON number would read back as ...992
    await write(db.pool, tenant, [
      { entityId: 1, ts: new Date(), values: { counter: big } },
      { entityId: 2, ts: new Date(), values: { counter: "9007199254740992" } },
      { entityId: 3, ts: new Date(), values: { counter: 7 } },
    ]);
    const api = await startQueryApi(db, { redisUrl: null });
    try {
      const strong = { "X-Consistency-Level": "strong" };
      const one = await api.request("GET", "/v1/entities/1", { tenant, headers: strong });
      expect(one.body.attributes.counter.value).to.equal(big);
      const ids = async (filters: unknown) =>
        (await api.request("POST", "/v1/entities/search", { tenant, headers: strong, body: { filters } })).body.entities.map((e: { entity_id: number }) => e.entity_id).sort();
      expect(await ids([{ attribute: "counter", op: "eq", value: big }])).to.deep.equal([1]);
      expect(await ids([{ attribute: "counter", op: "in", value: [big, 7] }])).to.deep.equal([1, 3]);
      expect(await ids([{ attribute: "counter", op: "gt", value: "9007199254740992" }])).to.deep.equal([1]);
      expect(await ids([{ attribute: "counter", op: "lt", value: 100 }])).to.deep.equal([3]);
      const ts = await api.request("GET", `/v1/entities/1/timeseries?attributes=counter&from=${new Date(Date.now() - 3_600_000).toISOString()}&to=${new Date(Date.now() + 60_000).toISOString()}`, { tenant, headers: strong });
      expect(ts.body.series.counter.map((p: { value: unknown }) => p.value)).to.deep.equal([big]);
    } finally {
      await api.close();
    }
  });
});
