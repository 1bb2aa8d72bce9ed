import { expect } from "chai";
import { TokenBuckets } from "../../../app/shared/http/rate-limit";

describe("per-tenant token buckets", () => {
  it("when a tenant spends its burst, then it waits for the rate while another tenant is untouched", () => {
    const buckets = new TokenBuckets(10, 20);
    const t0 = 1_000_000;
    for (let i = 0; i < 20; i++) expect(buckets.take("a", 1, t0)).to.equal(0);
    expect(buckets.take("a", 1, t0)).to.be.closeTo(0.1, 1e-9);
    expect(buckets.take("b", 1, t0)).to.equal(0);
  });

  it("when time passes, then tokens refill at the rate, capped at the burst", () => {
    const buckets = new TokenBuckets(10, 20);
    const t0 = 5_000;
    expect(buckets.take("a", 20, t0)).to.equal(0);
    expect(buckets.take("a", 5, t0 + 500)).to.equal(0); // 5 tokens accrued in 0.5 s
    expect(buckets.take("a", 1, t0 + 500)).to.be.greaterThan(0);
    expect(buckets.take("a", 20, t0 + 60_000)).to.equal(0); // capped at 20, not 600
    expect(buckets.take("a", 1, t0 + 60_000)).to.be.greaterThan(0);
  });

  it("when one request costs more than the burst, then it is refused with the time it would need", () => {
    const buckets = new TokenBuckets(100, 200);
    expect(buckets.take("a", 500, 0)).to.equal(3);
  });
});
