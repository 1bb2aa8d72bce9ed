import { expect } from "chai";
import { generateApiKey, hashApiKey, parseApiKey } from "../../../app/shared/tenants";

describe("db: API key format", () => {
  const tenant = "0f8fad5b-d9cb-469f-a165-70867728950e";

  it("when a key is generated, then it is atk_<tenant hex>_<32 base64url chars> and parses back to its tenant", () => {
    const key = generateApiKey(tenant);
    expect(key).to.match(/^atk_0f8fad5bd9cb469fa16570867728950e_[A-Za-z0-9_-]{32}$/);
    expect(parseApiKey(key)).to.deep.equal({ tenantId: tenant });
  });

  it("when two keys are generated for a tenant, then they differ", () => {
    expect(generateApiKey(tenant)).to.not.equal(generateApiKey(tenant));
  });

  it("when a key is malformed, then parsing returns null", () => {
    for (const bad of ["", "atk_", `atk_${"g".repeat(32)}_${"a".repeat(32)}`, `atk_${"a".repeat(32)}_${"a".repeat(31)}`, `xtk_${"a".repeat(32)}_${"a".repeat(32)}`, `atk_${"a".repeat(32)}_${"a".repeat(32)}\n`]) {
      expect(parseApiKey(bad), JSON.stringify(bad)).to.equal(null);
    }
  });

  it("when a key is hashed, then the hash is its 32-byte sha256", () => {
    expect(hashApiKey("abc").toString("hex")).to.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});
