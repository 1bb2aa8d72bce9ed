/**
 * Webhooks end to end on the real PostgreSQL, in direct mode (the embedded
 * default's write path: the API commits through the batch writer's storage
 * step): events from committed changes, Standard Webhooks signatures, the
 * retry schedule, 410, rotation, isolation of a dead endpoint, and the
 * processing lag checked against the commit.
 */
import { expect } from "chai";
import { Webhook } from "standardwebhooks";
import { useTestDatabase } from "../../helpers/db";
import { Receiver, send, startPlatform, subscribe, webhookConfig, webhookTenant, type Platform } from "./harness";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const verifyWith = (secret: string, r: { headers: Record<string, unknown>; body: string }) =>
  new Webhook(secret).verify(r.body, r.headers as Record<string, string>);

describe("webhooks: delivery (direct mode)", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  let p: Platform;
  const receivers: Receiver[] = [];
  const receiver = async () => {
    const r = await new Receiver().start();
    receivers.push(r);
    return r;
  };

  before(async () => {
    p = await startPlatform(db.pool, webhookConfig(db.url));
  });
  after(async () => {
    await p?.close();
    for (const r of receivers) await r.close();
  });

  it("when a status changes, then the receiver gets entity.updated with the old and new values, and the standardwebhooks verifier accepts it but not a tampered body", async () => {
    const t = await webhookTenant(p, db.pool);
    const rx = await receiver();
    const hook = await subscribe(p, t.api_key, rx.url);
    expect(hook.secret).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(hook.secret.slice(6), "base64").length).to.be.at.least(24);

    await send(p, t.api_key, [{ entity_id: 7, entity_type: "pump", ts: "2026-12-01T10:00:00Z", values: { status: "offline", temperature: 20.5 } }]);
    await send(p, t.api_key, [{ entity_id: 7, ts: "2026-12-01T10:01:00Z", values: { status: "online", temperature: 20.5 } }]);
    const [created, updated] = await rx.waitFor(2);

    expect(created.json.type).to.equal("entity.created");
    expect(created.json.data.changes.status).to.deep.include({ old: null, new: "offline" });
    expect(updated.json.type).to.equal("entity.updated");
    expect(updated.json.data).to.deep.include({ entity_id: 7, entity_type: "pump" });
    // temperature did not change (20.5 → 20.5): not listed.
    expect(updated.json.data.changes).to.deep.equal({ status: { old: "offline", new: "online", ts: "2026-12-01T10:01:00.000Z" } });
    expect(updated.json.data.occurred_at).to.equal("2026-12-01T10:01:00.000Z");

    expect(() => verifyWith(hook.secret, updated)).not.to.throw();
    const tampered = { ...updated, body: updated.body.replace('"online"', '"offline"') };
    expect(() => verifyWith(hook.secret, tampered)).to.throw(/signature/i);
    expect(String(updated.headers["webhook-signature"]).split(" ")).to.have.length(1);
  });

  it("when the receiver answers 500 twice, then 200, then it gets the same webhook-id three times and the deliveries list shows the attempts", async () => {
    const t = await webhookTenant(p, db.pool);
    const rx = await receiver();
    rx.answer = (_r, n) => (n <= 2 ? { status: 500 } : { status: 200 });
    const hook = await subscribe(p, t.api_key, rx.url);
    await send(p, t.api_key, [{ entity_id: 1, values: { status: "on" } }]);
    const got = await rx.waitFor(3);
    await sleep(300);
    expect(rx.received).to.have.length(3);
    const ids = new Set(got.map((r) => r.headers["webhook-id"]));
    expect(ids.size).to.equal(1);
    // Each attempt is signed anew, for its own timestamp.
    for (const r of got) expect(() => verifyWith(hook.secret, r)).not.to.throw();

    const list = await p.request("GET", `/v1/webhooks/${hook.id}/deliveries`, t.api_key);
    expect(list.status).to.equal(200);
    const [d] = list.body.deliveries;
    expect(d.delivery_id).to.equal([...ids][0]);
    expect(d.state).to.equal("succeeded");
    expect(d.attempts).to.equal(3);
    expect(d.attempt_log.map((a: { status: number }) => a.status)).to.deep.equal([500, 500, 200]);
    expect(d.attempt_log[0].latency_ms).to.be.a("number");
  });

  it("when the receiver answers 429 with Retry-After: 2, then the next attempt waits at least 2 s (not the 0.3 s schedule)", async () => {
    const t = await webhookTenant(p, db.pool);
    const rx = await receiver();
    rx.answer = (_r, n) => (n === 1 ? { status: 429, headers: { "retry-after": "2" } } : { status: 200 });
    await subscribe(p, t.api_key, rx.url);
    await send(p, t.api_key, [{ entity_id: 1, values: { status: "on" } }]);
    const [first, second] = await rx.waitFor(2);
    expect(second.at - first.at).to.be.at.least(1_900);
  });

  it("when the receiver answers 410, then the endpoint is disabled and the tenant's other endpoint is told with endpoint.disabled", async () => {
    const t = await webhookTenant(p, db.pool);
    const gone = await receiver();
    gone.answer = () => ({ status: 410 });
    const watcher = await receiver();
    const hook = await subscribe(p, t.api_key, gone.url);
    await subscribe(p, t.api_key, watcher.url, { events: ["endpoint.disabled"] });
    await send(p, t.api_key, [{ entity_id: 1, values: { status: "on" } }]);
    await gone.waitFor(1);
    const [notice] = await watcher.waitFor(1);
    expect(notice.json.type).to.equal("endpoint.disabled");
    expect(notice.json.data).to.include({ endpoint_id: hook.id });
    const after = await p.request("GET", `/v1/webhooks/${hook.id}`, t.api_key);
    expect(after.body.enabled).to.equal(false);
    expect(after.body.disabled_reason).to.match(/410/);
    await send(p, t.api_key, [{ entity_id: 1, values: { status: "off" } }]);
    await sleep(600);
    expect(gone.received).to.have.length(1);
  });

  it("when an endpoint has failed for 5 days, then its next failure disables it", async () => {
    const t = await webhookTenant(p, db.pool);
    const rx = await receiver();
    rx.answer = () => ({ status: 503 });
    const hook = await subscribe(p, t.api_key, rx.url);
    await db.pool.query("UPDATE webhook_endpoints SET failing_since = now() - interval '5 days 1 minute' WHERE endpoint_id = $1", [hook.id]);
    await send(p, t.api_key, [{ entity_id: 1, values: { status: "on" } }]);
    await rx.waitFor(1);
    await sleep(500);
    const after = await p.request("GET", `/v1/webhooks/${hook.id}`, t.api_key);
    expect(after.body.enabled).to.equal(false);
    expect(after.body.disabled_reason).to.match(/5 days/);
  });

  it("when the secret is rotated, then messages carry both signatures during the overlap, each verifying with its own secret", async () => {
    const t = await webhookTenant(p, db.pool);
    const rx = await receiver();
    const hook = await subscribe(p, t.api_key, rx.url);
    const rotated = await p.request("POST", `/v1/webhooks/${hook.id}/rotate-secret`, t.api_key);
    expect(rotated.status).to.equal(200);
    expect(rotated.body.secret).to.match(/^whsec_/).and.not.equal(hook.secret);
    const overlapH = (Date.parse(rotated.body.previous_secret_expires_at) - Date.now()) / 3_600_000;
    expect(overlapH).to.be.within(23.9, 24.01);
    await send(p, t.api_key, [{ entity_id: 1, values: { status: "on" } }]);
    const [m] = await rx.waitFor(1);
    expect(String(m.headers["webhook-signature"]).split(" ")).to.have.length(2);
    expect(() => verifyWith(hook.secret, m)).not.to.throw();
    expect(() => verifyWith(rotated.body.secret, m)).not.to.throw();
    // After the overlap only the new secret signs.
    await db.pool.query("UPDATE webhook_endpoints SET previous_expires_at = now() - interval '1 second' WHERE endpoint_id = $1", [hook.id]);
    await send(p, t.api_key, [{ entity_id: 1, values: { status: "off" } }]);
    const [, later] = await rx.waitFor(2);
    expect(String(later.headers["webhook-signature"]).split(" ")).to.have.length(1);
    expect(() => verifyWith(hook.secret, later)).to.throw();
    expect(() => verifyWith(rotated.body.secret, later)).not.to.throw();
  });

  it("when readings commit, then X-Processing-Lag-Seconds is the time from the commit to the send, checked against the commit time", async () => {
    const t = await webhookTenant(p, db.pool);
    const rx = await receiver();
    await subscribe(p, t.api_key, rx.url);
    const before = Date.now();
    await send(p, t.api_key, [{ entity_id: 3, values: { seq: 1 } }]);
    const acked = Date.now(); // the 202 comes after the COMMIT (direct mode)
    const [m] = await rx.waitFor(1);
    const committed = Date.parse(String(m.headers["x-event-timestamp"]));
    expect(committed).to.be.within(before - 5, acked + 5);
    expect(m.json.data.committed_at).to.equal(new Date(committed).toISOString());
    const lag = Number(m.headers["x-processing-lag-seconds"]);
    expect(lag).to.equal(m.json.data.lag_seconds);
    // lag = send − committed_at; the send happened between the commit and the receipt.
    expect(lag * 1000).to.be.at.most(m.at - before + 5);
    expect(lag * 1000).to.be.at.least(Date.parse(m.json.data.processed_at) - acked - 5);
    expect(Math.abs(Date.parse(m.json.data.processed_at) - committed - lag * 1000)).to.be.at.most(1);
  });

  it("when entities are deleted, then entity.deleted is sent after their earlier events", async () => {
    const t = await webhookTenant(p, db.pool);
    const rx = await receiver();
    await subscribe(p, t.api_key, rx.url);
    await send(p, t.api_key, [{ entity_id: 9, entity_type: "valve", values: { status: "on" } }]);
    await rx.waitFor(1);
    const del = await p.request("DELETE", "/v1/entities/9", t.api_key);
    expect(del.status).to.equal(202);
    // The deletion job runs in the batch writer; run its SQL effect here as the job would (a tenant-scoped DELETE).
    const c = await db.pool.connect();
    try {
      await c.query("BEGIN");
      await c.query("SET LOCAL ROLE atlas_app");
      await c.query("SELECT set_config('app.tenant_id', $1, true)", [t.tenant_id]);
      await c.query("DELETE FROM entities WHERE entity_id = 9");
      await c.query("COMMIT");
    } finally {
      c.release();
    }
    const [, deleted] = await rx.waitFor(2);
    expect(deleted.json.type).to.equal("entity.deleted");
    expect(deleted.json.data).to.include({ entity_id: 9, entity_type: "valve" });
  });

  it("when one endpoint is dead (never answers), then a healthy endpoint's p99 lag stays within 2× of its lag alone", async () => {
    const t = await webhookTenant(p, db.pool);
    const healthy = await receiver();
    await subscribe(p, t.api_key, healthy.url);
    const lagsOf = async (n: number) => {
      const start = healthy.received.length;
      const sentAt: number[] = [];
      for (let i = 0; i < n; i++) {
        await send(p, t.api_key, [{ entity_id: 100 + (i % 10), values: { seq: start + i + 1 } }]);
        sentAt.push(Date.now());
        await sleep(30);
      }
      const got = (await healthy.waitFor(start + n, 30_000)).slice(start);
      const lags = got.map((r) => Number(r.headers["x-processing-lag-seconds"]) * 1000).sort((a, b) => a - b);
      return lags[Math.min(lags.length - 1, Math.ceil(lags.length * 0.99) - 1)];
    };
    const alone = await lagsOf(40);
    const dead = await receiver();
    dead.answer = () => "hang";
    await subscribe(p, t.api_key, dead.url);
    const withDead = await lagsOf(40);
    console.log(`      healthy endpoint p99 lag: alone ${alone.toFixed(0)} ms, beside a dead endpoint ${withDead.toFixed(0)} ms`);
    expect(dead.received.length).to.be.at.least(1);
    expect(withDead).to.be.at.most(2 * Math.max(alone, 50));
  });
});
