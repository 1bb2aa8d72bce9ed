/**
 * The query API's per-tenant request rate: the tenant row's rate_limit_rps
 * when set, else TENANT_RATE_LIMIT_RPS; one tenant over its rate gets 429s,
 * the others do not notice.
 */
import { expect } from "chai";
import { useTestDatabase } from "../../helpers/db";
import { makeTenant, QueryApi, startQueryApi, Tenant, write } from "./harness";

describe("query rate limit per tenant", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  let api: QueryApi;
  let slow: Tenant;
  let other: Tenant;

  before(async () => {
    slow = await makeTenant(db.pool, { status: ["string", true] });
    other = await makeTenant(db.pool, { status: ["string", true] });
    await db.pool.query("UPDATE tenants SET rate_limit_rps = 2 WHERE tenant_id = $1", [slow.id]);
    for (const t of [slow, other]) await write(db.pool, t, [{ entityId: 1, ts: new Date(), values: { status: "ok" } }]);
    api = await startQueryApi(db, { redisUrl: null }); // the harness's default rate is 100,000/s
  });
  after(async () => api?.close());

  it("when a tenant's row sets rate_limit_rps, then past its burst it gets 429 with Retry-After naming the limit; another tenant does not", async () => {
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<QueryApi["request"]>> | undefined;
    for (let i = 0; i < 8; i++) {
      const r = await api.request("GET", "/v1/entities/1", { tenant: slow, headers: { "X-Consistency-Level": "strong" } });
      statuses.push(r.status);
      if (r.status === 429) limited ??= r;
    }
    // A burst of 2× the rate passes, then the bucket is dry (8 requests take far less than a second).
    expect(statuses.slice(0, 4)).to.deep.equal([200, 200, 200, 200]);
    expect(statuses.filter((s) => s === 429).length).to.be.at.least(3);
    expect(limited!.headers.get("retry-after")).to.match(/^[1-9]\d*$/);
    expect(limited!.body.error).to.include({ code: "rate_limited" });
    expect(limited!.body.error.details).to.deep.equal({ limit: "query", rate_per_second: 2 });

    for (let i = 0; i < 8; i++) {
      const r = await api.request("GET", "/v1/entities/1", { tenant: other, headers: { "X-Consistency-Level": "strong" } });
      expect(r.status).to.equal(200);
    }
  });
});
