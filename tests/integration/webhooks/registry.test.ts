/**
 * The endpoints API: bad input refused with 400 naming the field, the SSRF
 * guard at registration, and tenant isolation (another tenant's webhook id
 * is answered exactly as a nonexistent one). Private targets are refused
 * here: WEBHOOK_ALLOW_PRIVATE_TARGETS is off, as in AWS.
 */
import { randomUUID } from "crypto";
import { expect } from "chai";
import { eraseTenant } from "../../../app/lifecycle/tenant-erasure";
import { useTestDatabase } from "../../helpers/db";
import { startPlatform, webhookConfig, webhookTenant, type Platform } from "./harness";

describe("webhooks: endpoints API", function () {
  this.timeout(30_000);
  const db = useTestDatabase();
  let p: Platform;
  let open: Platform;
  before(async () => {
    p = await startPlatform(db.pool, webhookConfig(db.url, { WEBHOOK_ALLOW_PRIVATE_TARGETS: "false" }), false);
    open = await startPlatform(db.pool, webhookConfig(db.url), false);
  });
  after(async () => {
    await p?.close();
    await open?.close();
  });

  const refused: Array<[string, unknown, string, string, Platform?]> = [
    ["a loopback IPv4 target", "https://127.0.0.1/hook", "target_not_allowed", "url"],
    ["a loopback name", "https://localhost/hook", "target_not_allowed", "url"],
    ["a private RFC 1918 target", "https://10.1.2.3/hook", "target_not_allowed", "url"],
    ["a link-local target", "https://169.254.10.10/hook", "target_not_allowed", "url"],
    ["an IPv6 loopback", "https://[::1]/hook", "target_not_allowed", "url"],
    ["an IPv4-mapped private IPv6", "https://[::ffff:192.168.1.1]/hook", "target_not_allowed", "url"],
    ["a unique-local IPv6", "https://[fd12::1]/hook", "target_not_allowed", "url"],
    ["plain http", "http://example.com/hook", "invalid_url", "url"],
    ["not a URL", "not a url", "invalid_url", "url"],
    ["a non-string url", 42, "invalid_url", "url"],
    ["credentials in the URL", "https://user:pw@example.com/hook", "invalid_url", "url"],
  ];
  for (const [what, url, code, field] of refused) {
    it(`when the url is ${what}, then 400 ${code} naming ${field}`, async () => {
      const t = await webhookTenant(p, db.pool);
      const r = await p.request("POST", "/v1/webhooks", t.api_key, { url, events: ["entity.updated"] });
      expect(r.status, JSON.stringify(r.body)).to.equal(400);
      expect(r.body.error).to.include({ code, field });
    });
  }

  it("when the target is a cloud metadata address, then it is refused even with WEBHOOK_ALLOW_PRIVATE_TARGETS=true", async () => {
    const t = await webhookTenant(open, db.pool);
    for (const url of ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://169.254.170.2/v2/credentials"]) {
      const r = await open.request("POST", "/v1/webhooks", t.api_key, { url, events: ["entity.updated"] });
      expect(r.status, url).to.equal(400);
      expect(r.body.error).to.include({ code: "target_not_allowed", field: "url" });
      expect(r.body.error.message).to.match(/metadata/);
    }
  });

  it("when events name an unknown type, are empty or missing, then 400 naming events", async () => {
    const t = await webhookTenant(open, db.pool);
    for (const events of [["entity.exploded"], [], undefined, "entity.updated"]) {
      const r = await open.request("POST", "/v1/webhooks", t.api_key, { url: "http://127.0.0.1:9/x", events });
      expect(r.status, JSON.stringify(events)).to.equal(400);
      expect(r.body.error.field).to.equal("events");
    }
    const unknown = await open.request("POST", "/v1/webhooks", t.api_key, { url: "http://127.0.0.1:9/x", events: ["entity.exploded"] });
    expect(unknown.body.error.code).to.equal("unknown_event_type");
  });

  it("when the filter or another field is malformed, then 400 naming it", async () => {
    const t = await webhookTenant(open, db.pool);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ filter: { attributes: [] } }, "filter.attributes"],
      [{ filter: { entity_type: 5 } }, "filter.entity_type"],
      [{ filter: { colour: "red" } }, "colour"],
      [{ secret: "whsec_mine" }, "secret"],
      [{ description: "x".repeat(513) }, "description"],
    ];
    for (const [extra, field] of cases) {
      const r = await open.request("POST", "/v1/webhooks", t.api_key, { url: "http://127.0.0.1:9/x", events: ["entity.updated"], ...extra });
      expect(r.status, JSON.stringify(extra)).to.equal(400);
      expect(r.body.error.field).to.equal(field);
    }
  });

  it("when a tenant creates, lists, patches and deletes an endpoint, then the secret is shown only at creation", async () => {
    const t = await webhookTenant(open, db.pool);
    const created = await open.request("POST", "/v1/webhooks", t.api_key, { url: "http://127.0.0.1:9/x", events: ["entity.updated"], filter: { entity_type: "pump", attributes: ["status"] }, description: "ops" });
    expect(created.status).to.equal(201);
    expect(created.headers.get("location")).to.equal(`/v1/webhooks/${created.body.id}`);
    expect(created.body.secret).to.match(/^whsec_/);
    const got = await open.request("GET", `/v1/webhooks/${created.body.id}`, t.api_key);
    expect(got.body).to.not.have.property("secret");
    expect(got.body.filter).to.deep.equal({ entity_type: "pump", attributes: ["status"] });
    const patched = await open.request("PATCH", `/v1/webhooks/${created.body.id}`, t.api_key, { enabled: false, events: ["entity.created", "entity.updated"] });
    expect(patched.status).to.equal(200);
    expect(patched.body).to.include({ enabled: false, description: "ops" });
    expect(patched.body.events).to.deep.equal(["entity.created", "entity.updated"]);
    const list = await open.request("GET", "/v1/webhooks", t.api_key);
    expect(list.body.webhooks.map((w: { id: string }) => w.id)).to.deep.equal([created.body.id]);
    expect(JSON.stringify(list.body)).to.not.contain("whsec_");
    // Not in a dump either: the stored form is sealed.
    const { rows } = await db.pool.query("SELECT secret_sealed FROM webhook_endpoints WHERE endpoint_id = $1", [created.body.id]);
    expect(rows[0].secret_sealed).to.match(/^v1:/).and.not.contain(created.body.secret.slice(6, 20));
    const del = await open.request("DELETE", `/v1/webhooks/${created.body.id}`, t.api_key);
    expect(del.status).to.equal(204);
    expect((await open.request("GET", `/v1/webhooks/${created.body.id}`, t.api_key)).status).to.equal(404);
  });

  it("when tenant B names tenant A's webhook, then every route answers exactly as for a nonexistent id", async () => {
    const a = await webhookTenant(open, db.pool);
    const b = await webhookTenant(open, db.pool);
    const hook = await open.request("POST", "/v1/webhooks", a.api_key, { url: "http://127.0.0.1:9/x", events: ["entity.updated"] });
    const missing = randomUUID();
    const routes: Array<[string, (id: string) => string, unknown?]> = [
      ["GET", (id) => `/v1/webhooks/${id}`],
      ["PATCH", (id) => `/v1/webhooks/${id}`, { enabled: false }],
      ["DELETE", (id) => `/v1/webhooks/${id}`],
      ["POST", (id) => `/v1/webhooks/${id}/rotate-secret`],
      ["GET", (id) => `/v1/webhooks/${id}/deliveries`],
      ["POST", (id) => `/v1/webhooks/${id}/deliveries/${randomUUID()}/retry`],
    ];
    for (const [method, path, body] of routes) {
      const theirs = await open.request(method, path(hook.body.id), b.api_key, body);
      const none = await open.request(method, path(missing), b.api_key, body);
      expect(theirs.status, `${method} ${path("{id}")}`).to.equal(404);
      expect(none.status).to.equal(404);
      expect(JSON.stringify(theirs.body).replace(hook.body.id, "ID")).to.equal(JSON.stringify(none.body).replace(missing, "ID"));
    }
    expect((await open.request("GET", "/v1/webhooks", b.api_key)).body.webhooks).to.deep.equal([]);
    expect((await open.request("GET", `/v1/webhooks/not-a-uuid`, b.api_key)).status).to.equal(404);
    // A's endpoint is untouched.
    const still = await open.request("GET", `/v1/webhooks/${hook.body.id}`, a.api_key);
    expect(still.body.enabled).to.equal(true);
  });

  it("when a tenant is erased, then its endpoints, deliveries and attempts are gone with it", async () => {
    const t = await webhookTenant(open, db.pool);
    expect((await open.request("POST", "/v1/webhooks", t.api_key, { url: "http://127.0.0.1:9/x", events: ["entity.created", "entity.deleted"] })).status).to.equal(201);
    expect((await open.request("POST", "/v1/telemetry", t.api_key, { readings: [{ entity_id: 1, entity_type: "s", values: { status: "on" } }] })).status).to.equal(202);
    const scoped = async () =>
      (await db.pool.query(
        `SELECT (SELECT count(*)::int FROM webhook_endpoints WHERE tenant_id = $1) AS e, (SELECT count(*)::int FROM webhook_deliveries WHERE tenant_id = $1) AS d`,
        [t.tenant_id],
      )).rows[0];
    expect(await scoped()).to.deep.equal({ e: 1, d: 1 });
    await eraseTenant(db.pool, t.tenant_id);
    expect(await scoped()).to.deep.equal({ e: 0, d: 0 });
  });

  it("when no API key is given, then 401", async () => {
    const r = await fetch(`${open.url}/v1/webhooks`);
    expect(r.status).to.equal(401);
  });
});
