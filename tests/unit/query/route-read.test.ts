import { expect } from "chai";
import { isReplicaFailure } from "../../../app/query/routing/route-read";
import { AppError } from "../../../app/shared/http/errors";

const pgError = (code: string) => Object.assign(new Error("pg"), { code });

describe("query: which errors are the replica's fault (retry on the primary, count against the breaker)", () => {
  it("when the connection failed or the server is going away, then it is a replica failure", () => {
    expect(isReplicaFailure(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }))).to.equal(true);
    expect(isReplicaFailure(new Error("Connection terminated unexpectedly"))).to.equal(true);
    for (const code of ["08006", "57P01", "57P03", "57014", "53300", "58030", "40001", "XX000"]) expect(isReplicaFailure(pgError(code)), code).to.equal(true);
  });

  it("when the query itself is wrong or a client error is raised, then it is not (the primary would fail the same way)", () => {
    for (const code of ["22P02", "42P01", "42883", "23505", "40P01"]) expect(isReplicaFailure(pgError(code)), code).to.equal(false);
    expect(isReplicaFailure(new AppError(400, "x", "y"))).to.equal(false);
    expect(isReplicaFailure(new TypeError("bug"))).to.equal(false);
  });
});
