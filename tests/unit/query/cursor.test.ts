import { expect } from "chai";
import { decodeCursor, encodeCursor } from "../../../app/query/search/cursor";
import { AppError } from "../../../app/shared/http/errors";

const secret = Buffer.from("test-secret");
const A = "11111111-1111-4111-8111-111111111111";
const B = "22222222-2222-4222-8222-222222222222";
const pos = { updatedAt: "2026-11-24T10:00:00.123456Z", entityId: "42" };

function rejects(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(AppError);
    expect((err as AppError).status).to.equal(400);
    expect((err as AppError).code).to.equal("invalid_cursor");
    expect((err as AppError).field).to.equal("cursor");
    return err as AppError;
  }
  throw new Error("expected invalid_cursor");
}

describe("query: search cursor", () => {
  it("round-trips the exact position for the same tenant and filters", () => {
    const c = encodeCursor(secret, A, "hash1", pos);
    expect(c).to.match(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(decodeCursor(secret, A, "hash1", c)).to.deep.equal(pos);
  });

  it("when tenant B presents tenant A's cursor, then 400 invalid_cursor, worded exactly as for a forged cursor", () => {
    const c = encodeCursor(secret, A, "hash1", pos);
    const foreign = rejects(() => decodeCursor(secret, B, "hash1", c)).message;
    const forged = rejects(() => decodeCursor(secret, B, "hash1", `${c.split(".")[0]}.AAAAAAAAAAAAAAAAAAAAAA`)).message;
    expect(foreign).to.equal(forged);
  });

  it("when the filters changed, then 400 invalid_cursor", () => {
    const c = encodeCursor(secret, A, "hash1", pos);
    rejects(() => decodeCursor(secret, A, "hash2", c));
  });

  it("when the cursor was tampered with or signed by another key, then 400 invalid_cursor", () => {
    const c = encodeCursor(secret, A, "hash1", pos);
    const [payload, sig] = c.split(".");
    const forged = Buffer.from(JSON.stringify({ v: 1, t: B, f: "hash1", u: pos.updatedAt, e: "42" })).toString("base64url");
    rejects(() => decodeCursor(secret, B, "hash1", `${forged}.${sig}`));
    rejects(() => decodeCursor(Buffer.from("other"), A, "hash1", c));
    rejects(() => decodeCursor(secret, A, "hash1", `${payload}x.${sig}`));
    rejects(() => decodeCursor(secret, A, "hash1", "garbage"));
    rejects(() => decodeCursor(secret, A, "hash1", ""));
  });
});
