import { expect } from "chai";
import {
  authenticate,
  createApiKey,
  createTenant,
  findTenantIdByName,
  getTenant,
  hashApiKey,
  listTenants,
  revokeApiKey,
  TenantExistsError,
} from "../../../app/shared/tenants";
import { useTestDatabase } from "../../helpers/db";

describe("db: tenants and API keys (real PostgreSQL)", function () {
  this.timeout(60_000);
  const db = useTestDatabase();

  it("when a tenant is created, then its key authenticates to it and only the key's hash is stored", async () => {
    const t = await createTenant(db.pool, "acme");
    expect(await authenticate(db.pool, t.api_key)).to.equal(t.tenant_id);
    const { rows } = await db.pool.query("SELECT key_hash FROM api_keys WHERE tenant_id = $1", [t.tenant_id]);
    expect(rows).to.have.length(1);
    expect(Buffer.compare(rows[0].key_hash, hashApiKey(t.api_key))).to.equal(0);
    const dump = JSON.stringify((await db.pool.query("SELECT * FROM api_keys")).rows);
    expect(dump).to.not.contain(t.api_key.slice(-32));
  });

  it("when a key is unknown, malformed, or names another tenant, then it does not authenticate", async () => {
    const a = await createTenant(db.pool, "a-corp");
    const b = await createTenant(db.pool, "b-corp");
    const secretOfA = a.api_key.split("_")[2];
    const forged = `atk_${b.tenant_id.replace(/-/g, "")}_${secretOfA}`;
    expect(await authenticate(db.pool, forged)).to.equal(null);
    expect(await authenticate(db.pool, `${a.api_key.slice(0, -1)}${a.api_key.endsWith("A") ? "B" : "A"}`)).to.equal(null);
    expect(await authenticate(db.pool, "not-a-key")).to.equal(null);
    expect(await authenticate(db.pool, `atk_${"0".repeat(32)}_${"x".repeat(32)}`)).to.equal(null);
  });

  it("when a key is revoked, then it stops authenticating and the tenant's other keys still work", async () => {
    const t = await createTenant(db.pool, "revoker");
    const second = await createApiKey(db.pool, t.tenant_id);
    expect(await revokeApiKey(db.pool, t.tenant_id, t.key_id)).to.equal(true);
    expect(await revokeApiKey(db.pool, t.tenant_id, t.key_id)).to.equal(false);
    expect(await authenticate(db.pool, t.api_key)).to.equal(null);
    expect(await authenticate(db.pool, second.api_key)).to.equal(t.tenant_id);
  });

  it("when tenant B tries to revoke tenant A's key, then nothing is revoked", async () => {
    const a = await createTenant(db.pool, "victim");
    const b = await createTenant(db.pool, "attacker");
    expect(await revokeApiKey(db.pool, b.tenant_id, a.key_id)).to.equal(false);
    expect(await authenticate(db.pool, a.api_key)).to.equal(a.tenant_id);
  });

  it("when a tenant name is taken, then creating it again fails with a clear error", async () => {
    await createTenant(db.pool, "dup");
    const err = await createTenant(db.pool, "dup").then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(TenantExistsError);
    expect((err as Error).message).to.equal('a tenant named "dup" already exists');
  });

  it("when a tenant reads the tenants table, then it sees only its own row; the operator lists all", async () => {
    const t = await createTenant(db.pool, "selfie", { unknownAttributes: "register", rateLimitRps: 5 });
    const own = await getTenant(db.pool, t.tenant_id);
    expect(own).to.include({ name: "selfie", unknown_attributes: "register", rate_limit_rps: 5, live_window_seconds: null });
    const all = await listTenants(db.pool);
    expect(all.map((x) => x.name)).to.include.members(["acme", "selfie", "dup"]);
    expect(await findTenantIdByName(db.pool, "selfie")).to.equal(t.tenant_id);
    expect(await findTenantIdByName(db.pool, "nobody")).to.equal(null);
  });
});
