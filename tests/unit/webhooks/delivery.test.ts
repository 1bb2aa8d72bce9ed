import { expect } from "chai";
import { Webhook } from "standardwebhooks";
import { classifyAddress } from "../../../app/webhooks/ssrf/addresses";
import { MAX_ATTEMPTS, nextDelayMs, parseRetryAfter, RETRY_DELAYS_MS } from "../../../app/webhooks/delivery/schedule";
import { newSecret, signatureHeader } from "../../../app/webhooks/delivery/sign";
import { SecretBox } from "../../../app/webhooks/registry/secret-box";
import { LagReport } from "../../../app/webhooks/delivery/lag-report";
import { lagSeconds, messageBody } from "../../../app/webhooks/events/payload";

describe("webhooks: retry schedule", () => {
  it("is Svix's: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts", () => {
    expect(RETRY_DELAYS_MS).to.deep.equal([5e3, 3e5, 18e5, 72e5, 18e6, 36e6, 36e6]);
    expect(MAX_ATTEMPTS).to.equal(8);
    expect(nextDelayMs(8, undefined)).to.equal(undefined);
  });
  it("jitters each delay by at most ±10 %", () => {
    expect(nextDelayMs(1, undefined, RETRY_DELAYS_MS, () => 0)).to.equal(4_500);
    expect(nextDelayMs(1, undefined, RETRY_DELAYS_MS, () => 1)).to.equal(5_500);
    expect(nextDelayMs(2, undefined, RETRY_DELAYS_MS, () => 0.5)).to.equal(300_000);
  });
  it("honours a Retry-After that asks for longer, capped at a day, and ignores a shorter one", () => {
    expect(nextDelayMs(1, 60_000, RETRY_DELAYS_MS, () => 0.5)).to.equal(60_000);
    expect(nextDelayMs(2, 1_000, RETRY_DELAYS_MS, () => 0.5)).to.equal(300_000);
    expect(nextDelayMs(1, 10 * 86_400_000, RETRY_DELAYS_MS, () => 0.5)).to.equal(86_400_000);
  });
  it("reads Retry-After as seconds or an HTTP date", () => {
    const now = Date.parse("2026-12-01T00:00:00Z");
    expect(parseRetryAfter("120", now)).to.equal(120_000);
    expect(parseRetryAfter("Tue, 01 Dec 2026 00:01:00 GMT", now)).to.equal(60_000);
    expect(parseRetryAfter("soon", now)).to.equal(undefined);
    expect(parseRetryAfter(undefined, now)).to.equal(undefined);
  });
});

describe("webhooks: SSRF address classes", () => {
  const cases: Array<[string, string, string]> = [
    ["93.184.216.34", "allowed", "allowed"],
    ["2606:2800:220:1:248:1893:25c8:1946", "allowed", "allowed"],
    ["127.0.0.1", "private", "allowed"],
    ["10.0.0.5", "private", "allowed"],
    ["172.31.255.255", "private", "allowed"],
    ["172.32.0.1", "allowed", "allowed"],
    ["192.168.0.1", "private", "allowed"],
    ["100.64.0.1", "private", "allowed"],
    ["169.254.1.1", "private", "allowed"],
    ["0.0.0.0", "private", "allowed"],
    ["::1", "private", "allowed"],
    ["fe80::1", "private", "allowed"],
    ["fd00::1", "private", "allowed"],
    ["::ffff:10.0.0.1", "private", "allowed"],
    ["169.254.169.254", "metadata", "metadata"],
    ["169.254.170.2", "metadata", "metadata"],
    ["fd00:ec2::254", "metadata", "metadata"],
    ["::ffff:169.254.169.254", "metadata", "metadata"],
  ];
  for (const [address, strict, open] of cases) {
    it(`${address}: ${strict} by default, ${open} with private targets allowed`, () => {
      expect(classifyAddress(address, false)).to.equal(strict);
      expect(classifyAddress(address, true)).to.equal(open);
    });
  }
});

describe("webhooks: signing", () => {
  it("secrets are whsec_ + base64 of 32 random bytes, never repeated", () => {
    const a = newSecret();
    expect(a).to.match(/^whsec_/);
    expect(Buffer.from(a.slice(6), "base64")).to.have.length(32);
    expect(newSecret()).to.not.equal(a);
  });
  it("the standardwebhooks reference verifier accepts our signature and each of two rotation signatures", () => {
    const [oldS, newS] = [newSecret(), newSecret()];
    const ts = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ type: "entity.updated", data: { x: 1 } });
    const headers = { "webhook-id": "msg_1", "webhook-timestamp": String(ts), "webhook-signature": signatureHeader([newS, oldS], "msg_1", ts, body) };
    expect(new Webhook(newS).verify(body, headers)).to.deep.equal(JSON.parse(body));
    expect(new Webhook(oldS).verify(body, headers)).to.deep.equal(JSON.parse(body));
    expect(() => new Webhook(newSecret()).verify(body, headers)).to.throw();
    expect(() => new Webhook(newS).verify(body + " ", headers)).to.throw();
  });
});

describe("webhooks: sealed secrets", () => {
  const box = new SecretBox(Buffer.alloc(32, 7).toString("base64"));
  it("opens what it sealed, for the same endpoint only", () => {
    const sealed = box.seal("whsec_abc", "e1");
    expect(sealed).to.match(/^v1:/).and.not.contain("abc");
    expect(box.open(sealed, "e1")).to.equal("whsec_abc");
    expect(() => box.open(sealed, "e2")).to.throw();
    expect(() => new SecretBox(Buffer.alloc(32, 8).toString("base64")).open(sealed, "e1")).to.throw();
  });
  it("refuses a key that is not 32 bytes", () => {
    expect(() => new SecretBox(Buffer.alloc(16).toString("base64"))).to.throw(/32 bytes/);
  });
});

describe("webhooks: payload and lag", () => {
  it("lag_seconds is send − commit, in ms precision, never negative", () => {
    const committed = new Date("2026-12-01T00:00:00.000Z");
    expect(lagSeconds(committed, committed.getTime() + 1_234)).to.equal(1.234);
    expect(lagSeconds(committed, committed.getTime() - 5)).to.equal(0);
    const body = messageBody("entity.updated", { entity_id: 1 }, committed, committed.getTime() + 2_000);
    expect(body).to.deep.equal({
      type: "entity.updated",
      timestamp: "2026-12-01T00:00:02.000Z",
      data: { entity_id: 1, committed_at: "2026-12-01T00:00:00.000Z", processed_at: "2026-12-01T00:00:02.000Z", lag_seconds: 2 },
    });
  });
  it("the per-minute p95 is the 95th percentile of the samples", () => {
    expect(LagReport.p95([])).to.equal(undefined);
    expect(LagReport.p95(Array.from({ length: 100 }, (_, i) => i + 1))).to.equal(95);
    expect(LagReport.p95([3])).to.equal(3);
  });
});
