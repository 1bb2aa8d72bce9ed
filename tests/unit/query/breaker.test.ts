import { expect } from "chai";
import { CircuitBreaker } from "../../../app/query/routing/breaker";

describe("query: replica circuit breaker", () => {
  it("when failures stay below the threshold, then it stays closed and a success resets the count", () => {
    const b = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1000 });
    b.onFailure(0);
    b.onFailure(0);
    expect(b.state(0)).to.equal("closed");
    b.onSuccess();
    b.onFailure(0);
    b.onFailure(0);
    expect(b.state(0)).to.equal("closed");
  });

  it("when N consecutive failures happen, then it opens and refuses calls until the cool-down passes", () => {
    const b = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1000 });
    for (let i = 0; i < 3; i++) b.onFailure(100);
    expect(b.state(100)).to.equal("open");
    expect(b.isClosed(500)).to.equal(false);
    expect(b.tryAcquire(1099)).to.equal(false);
  });

  it("when the cool-down passed, then exactly one probe is let through (half-open)", () => {
    const b = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 1000 });
    b.onFailure(0);
    expect(b.state(1000)).to.equal("half_open");
    expect(b.tryAcquire(1000)).to.equal(true);
    expect(b.tryAcquire(1001)).to.equal(false);
    expect(b.isClosed(1001)).to.equal(false);
  });

  it("when the half-open probe succeeds, then it closes", () => {
    const b = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 1000 });
    b.onFailure(0);
    expect(b.tryAcquire(1500)).to.equal(true);
    b.onSuccess();
    expect(b.state(1500)).to.equal("closed");
    expect(b.tryAcquire(1500)).to.equal(true);
  });

  it("when the half-open probe fails, then it re-opens for a whole new cool-down", () => {
    const b = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 1000 });
    b.onFailure(0);
    expect(b.tryAcquire(1500)).to.equal(true);
    b.onFailure(1500);
    expect(b.state(2000)).to.equal("open");
    expect(b.tryAcquire(2499)).to.equal(false);
    expect(b.tryAcquire(2500)).to.equal(true);
  });
});
