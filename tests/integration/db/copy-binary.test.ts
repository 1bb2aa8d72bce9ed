import { expect } from "chai";
import { Readable } from "stream";
import { pipeline } from "stream/promises";
import { from as copyFrom } from "pg-copy-streams";
import { BinaryCopyWriter } from "../../../app/ingest/writer/copy-binary";
import { useTestDatabase } from "../../helpers/db";

describe("db: the writer's binary COPY encoding, read back by PostgreSQL", function () {
  this.timeout(60_000);
  const db = useTestDatabase({ migrate: false });

  it("when edge values are COPYed in binary, then PostgreSQL reads every one back exactly", async () => {
    const rows: Array<[string, string, string, number, string, number | null, boolean | null]> = [
      ["0b5e4a8e-9d7e-4c39-8a33-3f3b1b0c0001", "9223372036854775807", "tab\there\nnew ☃ line \\", -2147483648, "2026-11-24T10:00:00.123Z", -0, true],
      ["FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "-9223372036854775808", "", 2147483647, "1999-12-31T23:59:59.999Z", 1.7976931348623157e308, false],
      ["00000000-0000-0000-0000-000000000000", "42", "plain", 0, "2000-01-01T00:00:00.000Z", null, null],
    ];
    const c = await db.pool.connect();
    try {
      await c.query("CREATE TEMP TABLE t (u uuid, i8 bigint, s text, i4 int, ts timestamptz, f float8, b boolean)");
      const out = new BinaryCopyWriter(64); // tiny chunks: rows span chunk boundaries
      const chunks: Buffer[] = [];
      for (const [u, i8, s, i4, ts, f, b] of rows) {
        out.row(7).uuid(u).int8(i8).text(s).int4(i4).timestamptz(ts);
        if (f === null) out.null();
        else out.float8(f);
        if (b === null) out.null();
        else out.bool(b);
        if (out.full) chunks.push(out.take());
      }
      out.end();
      chunks.push(out.take());
      expect(chunks.length).to.be.greaterThan(1);
      await pipeline(Readable.from(chunks), c.query(copyFrom("COPY t FROM STDIN WITH (FORMAT binary)")));
      const { rows: back } = await c.query(
        `SELECT u::text, i8::text, s, i4, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ts, f, b FROM t ORDER BY i4`,
      );
      const expected = [...rows].sort((a, b) => a[3] - b[3]).map(([u, i8, s, i4, ts, f, b]) => ({ u: u.toLowerCase(), i8, s, i4, ts, f, b }));
      expect(back).to.deep.equal(expected);
    } finally {
      c.release();
    }
  });

  it("when a value cannot be encoded, then the encoder says which before anything is sent", () => {
    const out = new BinaryCopyWriter();
    expect(() => out.uuid("not-a-uuid")).to.throw(TypeError, /not a uuid/);
    expect(() => out.int8("9223372036854775808")).to.throw(RangeError, /int8/);
    expect(() => out.timestamptz("yesterday")).to.throw(TypeError, /timestamp/);
  });
});
