import { expect } from "chai";
import { isDatabaseUnavailable } from "../../../app/shared/http/errors";

describe("shared: a database that cannot be reached is a 503, not a 500", () => {
  it("when PostgreSQL shuts down, restarts, refuses or drops connections, then the error counts as unavailable", () => {
    for (const code of ["57P01", "57P02", "57P03", "53300", "08006", "08001", "ECONNREFUSED", "ECONNRESET"]) {
      expect(isDatabaseUnavailable(Object.assign(new Error("x"), { code })), code).to.equal(true);
    }
    expect(isDatabaseUnavailable(new Error("Connection terminated unexpectedly"))).to.equal(true);
    expect(isDatabaseUnavailable(new Error("timeout exceeded when trying to connect"))).to.equal(true);
  });

  it("when the statement itself is at fault, then it is not (those stay 4xx/500)", () => {
    for (const code of ["23505", "22P02", "42P01", "57014", "AT002"]) {
      expect(isDatabaseUnavailable(Object.assign(new Error("x"), { code })), code).to.equal(false);
    }
    expect(isDatabaseUnavailable(undefined)).to.equal(false);
    expect(isDatabaseUnavailable(new Error("Connection is fine"))).to.equal(false);
  });
});
