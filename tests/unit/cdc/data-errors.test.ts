/**
 * Which warehouse errors dead-letter the events that cause them (the data's
 * fault: retrying fails forever) and which retry the micro-batch.
 */
import { expect } from "chai";
import { isDataError } from "../../../app/cdc/dead-letters";

const pgError = (code: string, message = "boom") => Object.assign(new Error(message), { code });

describe("isDataError: what the loader dead-letters instead of retrying", () => {
  it("when the warehouse refuses a value (class 22: too long, out of range, bad syntax), then it is the data's fault", () => {
    for (const code of ["22001", "22003", "22P02", "22007"]) expect(isDataError(pgError(code)), code).to.equal(true);
  });

  it("when an integrity rule refuses a row (not null, check), then it is the data's fault", () => {
    for (const code of ["23502", "23514"]) expect(isDataError(pgError(code)), code).to.equal(true);
  });

  it("when two loaders race on a key (23505), deadlock (40P01) or serialization (40001), then the batch is retried, not dead-lettered", () => {
    for (const code of ["23505", "40P01", "40001"]) expect(isDataError(pgError(code)), code).to.equal(false);
  });

  it("when the warehouse is unavailable or the connection drops, then the batch is retried", () => {
    expect(isDataError(pgError("57P01"))).to.equal(false);
    expect(isDataError(pgError("08006"))).to.equal(false);
    expect(isDataError(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }))).to.equal(false);
  });

  it("when Redshift's COPY fails on a row (XX000 naming stl_load_errors), then it is the data's fault; any other XX000 is not", () => {
    expect(isDataError(pgError("XX000", "Load into table 'stage_facts' failed.  Check 'stl_load_errors' system table for details."))).to.equal(true);
    expect(isDataError(pgError("XX000", "internal error"))).to.equal(false);
  });
});
