import { expect } from "chai";
import { decodeMessage, toMessages, valueFitsType, MAX_READINGS_PER_MESSAGE } from "../../../app/ingest/messages";
import { ReadingSpool } from "../../../app/ingest/spool";
import { copyEscape, valueColumns } from "../../../app/ingest/writer/store-batch";
import type { ValidReading } from "../../../app/ingest/types";

const T = "6f1c2a7e-1111-4222-8333-944455556666";
const at = new Date("2026-11-24T10:00:00Z");
const reading = (entityId: string, i: number, lane: "live" | "backfill" = "live"): ValidReading => ({
  entityId,
  entityType: "sensor",
  tsMs: at.getTime() - i * 1000,
  lane,
  values: [[1, i], [2, `s${i}`]],
});

describe("ingest wire format", () => {
  it("when readings of several entities and lanes are grouped, then each message holds one entity and lane, in order", () => {
    const msgs = toMessages(T, at, [reading("1", 0), reading("2", 1), reading("1", 2), reading("1", 3, "backfill")]);
    expect(msgs.map((m) => [m.lane, m.key, m.message.readings.length])).to.deep.equal([
      ["live", `${T}:1`, 2],
      ["live", `${T}:2`, 1],
      ["backfill", `${T}:1`, 1],
    ]);
    expect(msgs[0].message).to.deep.include({ v: 1, tenant_id: T, entity_id: "1", entity_type: "sensor", received_at: at.toISOString() });
    expect(msgs[0].message.readings[1]).to.deep.equal({ ts: "2026-11-24T09:59:58.000Z", values: [[1, 2], [2, "s2"]] });
  });

  it("when an entity has more readings than a message may hold, then they are split over several messages", () => {
    const rs = Array.from({ length: MAX_READINGS_PER_MESSAGE + 1 }, (_, i) => reading("9", i));
    expect(toMessages(T, at, rs).map((m) => m.message.readings.length)).to.deep.equal([MAX_READINGS_PER_MESSAGE, 1]);
  });

  it("when a built message is decoded, then it round-trips", () => {
    const [m] = toMessages(T, at, [reading("9223372036854775807", 1)]);
    expect(decodeMessage(Buffer.from(JSON.stringify(m.message)))).to.deep.equal(m.message);
  });

  it("when a message is not our format, then decoding names the reason (poison)", () => {
    const good = toMessages(T, at, [reading("5", 1)])[0].message;
    const bad: Array<[unknown, RegExp]> = [
      [null, /empty/],
      ["{nope", /not JSON/],
      [{ ...good, v: 2 }, /version/],
      [{ ...good, tenant_id: "x" }, /tenant_id/],
      [{ ...good, entity_id: "0" }, /entity_id/],
      [{ ...good, readings: [] }, /readings/],
      [{ ...good, readings: [{ ts: "x", values: [[1, 1]] }] }, /ts/],
      [{ ...good, readings: [{ ts: good.readings[0].ts, values: [[0, 1]] }] }, /pair/],
    ];
    for (const [value, reason] of bad) {
      const buf = value === null ? null : Buffer.from(typeof value === "string" ? value : JSON.stringify(value));
      expect(() => decodeMessage(buf)).to.throw(reason);
    }
  });

  it("valueFitsType guards the typed columns", () => {
    expect(valueFitsType("int", "9223372036854775807")).to.equal(true);
    expect(valueFitsType("int", 1.5)).to.equal(false);
    expect(valueFitsType("decimal", "1")).to.equal(false);
    expect(valueFitsType("timestamp", "2026-11-24T10:00:00.000Z")).to.equal(true);
    expect(valueFitsType("string", "a\u0000")).to.equal(false);
  });

  it("when text holds tabs, newlines, CR or backslashes, then COPY escaping keeps it one field", () => {
    expect(copyEscape("a\tb\nc\\d\re")).to.equal("a\\tb\\nc\\\\d\\re");
    expect(copyEscape("plain")).to.equal("plain");
    expect(valueColumns("string", "x\ty")).to.equal("\\N\t\\N\t\\N\tx\\ty\t\\N");
    expect(valueColumns("bool", false)).to.equal("\\N\t\\N\tf\t\\N\t\\N");
    expect(valueColumns("int", "9223372036854775807")).to.equal("9223372036854775807\t\\N\t\\N\t\\N\t\\N");
  });

  it("when readings are spooled, then they come back in order and in chunks, and the spool is compact", async () => {
    const spool = new ReadingSpool();
    for (let i = 0; i < 10_000; i++) spool.append(reading(String(i % 50 + 1), i, i % 3 === 0 ? "backfill" : "live"));
    expect(spool.count).to.equal(10_000);
    expect(spool.bytes / spool.count).to.be.lessThan(80);
    const back: ValidReading[] = [];
    const sizes: number[] = [];
    for await (const chunk of spool.chunks(3_000)) {
      sizes.push(chunk.length);
      back.push(...chunk);
    }
    expect(sizes).to.deep.equal([3000, 3000, 3000, 1000]);
    expect(back[4]).to.deep.equal(reading("5", 4));
    expect(back[3].lane).to.equal("backfill");
  });
});
