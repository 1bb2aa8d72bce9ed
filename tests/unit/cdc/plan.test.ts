import { expect } from "chai";
import { ChangeEvent, decodeEvent, DecodeError, isoMicros, utcDay } from "../../../app/cdc/loader/events";
import { planBatch, UNTYPED_ENTITY } from "../../../app/cdc/loader/plan";

const T = "0b5e4a8e-9d7e-4c39-8a33-3f3b1b0c0001";

function change(table: string, op: ChangeEvent["op"], row: Record<string, unknown>, lsn: number, tsMs = 1_700_000_000_000): ChangeEvent {
  return { kind: "change", table, op, row, lsn, sourceTsMs: tsMs, snapshot: false };
}

const reading = (over: Record<string, unknown> = {}) => ({
  tenant_id: T, entity_id: 7, attribute_id: 3, ts: "2026-11-24T10:00:00.123456Z", received_at: "2026-11-24T10:00:01Z",
  value_int: null, value_decimal: 75.5, value_bool: null, value_string: null, value_ts: null, ...over,
});

describe("cdc event decoding", () => {
  it("when Debezium sends an insert, then op, row, commit time and LSN are read from it", () => {
    const value = JSON.stringify({
      before: null, after: reading(), op: "c", ts_ms: 1,
      source: { table: "entity_values_ts", ts_ms: 1_795_587_308_218, lsn: 75_082_376, snapshot: "false" },
    });
    const e = decodeEvent(Buffer.from(value));
    expect(e).to.deep.include({ kind: "change", table: "entity_values_ts", op: "c", sourceTsMs: 1_795_587_308_218, lsn: 75_082_376, snapshot: false });
  });

  it("when a delete arrives, then the row is the key in `before`", () => {
    const e = decodeEvent(JSON.stringify({ before: { tenant_id: T, entity_id: 7 }, after: null, op: "d", source: { table: "entities", ts_ms: 5, lsn: 9 } }));
    expect(e).to.deep.include({ op: "d", row: { tenant_id: T, entity_id: 7 } });
  });

  it("when a snapshot read arrives, then it is marked as snapshot (its time is not a commit time)", () => {
    const e = decodeEvent(JSON.stringify({ after: { id: 1 }, op: "r", source: { table: "tenants", ts_ms: 5, lsn: 9, snapshot: "last" } }));
    expect(e).to.include({ snapshot: true });
  });

  it("when a Debezium heartbeat arrives, then it decodes as a heartbeat with the connector's time", () => {
    expect(decodeEvent('{"ts_ms":1795587318111}')).to.deep.equal({ kind: "heartbeat", tsMs: 1795587318111 });
  });

  it("when the value is a tombstone, then nothing is decoded", () => {
    expect(decodeEvent(null)).to.equal(null);
  });

  it("when the value is not a change event, then a DecodeError names the problem", () => {
    expect(() => decodeEvent("not json")).to.throw(DecodeError, /not JSON/);
    expect(() => decodeEvent('{"op":"x","source":{"table":"t"}}')).to.throw(DecodeError, /unknown op/);
    expect(() => decodeEvent('{"op":"c","after":null,"source":{"table":"t","ts_ms":1}}')).to.throw(DecodeError, /without after/);
  });

  it("the UTC day of a timestamp with an offset is the day in UTC", () => {
    expect(utcDay("2026-11-24T23:30:00.5Z")).to.equal("2026-11-24");
    expect(utcDay("2026-11-25T01:30:00+02:00")).to.equal("2026-11-24");
  });

  it("timestamps with trimmed fractions compare by time, to the microsecond", () => {
    expect(isoMicros("2026-11-24T10:00:00.5Z")).to.be.greaterThan(isoMicros("2026-11-24T10:00:00.123456Z"));
    expect(isoMicros("2026-11-24T10:00:00Z") + 1).to.equal(isoMicros("2026-11-24T10:00:00.000001Z"));
    expect(isoMicros("2026-11-24T12:00:00+02:00")).to.equal(isoMicros("2026-11-24T10:00:00Z"));
    expect(() => isoMicros("yesterday")).to.throw(DecodeError);
  });
});

describe("cdc batch plan", () => {
  it("when a reading is inserted, then one fact with its typed value, UTC day and commit time is planned", () => {
    const plan = planBatch([change("entity_values_ts", "c", reading(), 100, Date.UTC(2026, 10, 24, 10, 0, 2))]);
    expect(plan.facts.upserts).to.have.length(1);
    expect(plan.facts.upserts[0]).to.deep.include({
      tenant_id: T, entity_id: 7, attribute_id: 3, day: "2026-11-24", data_type: "decimal", value_num: 75.5,
      source_ts: "2026-11-24T10:00:02.000Z", source_lsn: 100,
    });
  });

  it("each value column maps to its data type", () => {
    const types = [
      [{ value_decimal: null, value_int: 42 }, "int", { value_num: 42 }],
      [{ value_decimal: null, value_bool: false }, "bool", { value_bool: false }],
      [{ value_decimal: null, value_string: "online" }, "string", { value_text: "online" }],
      [{ value_decimal: null, value_ts: "2026-01-01T00:00:00Z" }, "timestamp", { value_ts: "2026-01-01T00:00:00Z" }],
    ] as const;
    for (const [cols, type, value] of types) {
      const [fact] = planBatch([change("entity_values_ts", "c", reading(cols), 1)]).facts.upserts;
      expect(fact).to.deep.include({ data_type: type, ...value });
    }
  });

  it("when the same reading arrives twice in a batch (replay), then it is planned once", () => {
    const plan = planBatch([change("entity_values_ts", "c", reading(), 100), change("entity_values_ts", "c", reading(), 100)]);
    expect(plan.facts.upserts).to.have.length(1);
  });

  it("when a reading is inserted then deleted in one batch, then only the delete survives, with its LSN", () => {
    const plan = planBatch([
      change("entity_values_ts", "c", reading(), 100),
      change("entity_values_ts", "d", { tenant_id: T, entity_id: 7, attribute_id: 3, ts: "2026-11-24T10:00:00.123456Z" }, 200),
    ]);
    expect(plan.facts.upserts).to.have.length(0);
    expect(plan.facts.deletes).to.deep.equal([{ tenant_id: T, entity_id: 7, attribute_id: 3, ts: "2026-11-24T10:00:00.123456Z", source_lsn: 200 }]);
  });

  it("when a reading is deleted then inserted again (moved out of the default partition), then the insert wins", () => {
    const key = { tenant_id: T, entity_id: 7, attribute_id: 3, ts: "2026-11-24T10:00:00.123456Z" };
    const plan = planBatch([change("entity_values_ts", "d", key, 100), change("entity_values_ts", "c", reading(), 101)]);
    expect(plan.facts.deletes).to.have.length(0);
    expect(plan.facts.upserts).to.have.length(1);
  });

  it("when facts of one attribute arrive out of order, then current_state takes the newest device time, whatever the event order", () => {
    const plan = planBatch([
      change("entity_values_ts", "c", reading({ ts: "2026-11-24T10:00:00.5Z", value_decimal: 2 }), 10),
      change("entity_values_ts", "c", reading({ ts: "2026-11-24T10:00:00.123456Z", value_decimal: 1 }), 11),
      change("entity_values_ts", "c", reading({ attribute_id: 4, ts: "2026-11-24T09:00:00Z", value_decimal: null, value_string: "online" }), 12),
    ]);
    // "…00.5Z" is later than "…00.123456Z" although it sorts earlier as text.
    const byAttribute = Object.fromEntries(plan.states.rows.map((r) => [r.attribute_id, r]));
    expect(plan.states.rows).to.have.length(2);
    expect(byAttribute[3]).to.deep.include({ ts: "2026-11-24T10:00:00.5Z", value_num: 2, data_type: "decimal", source_lsn: 10 });
    expect(byAttribute[4]).to.deep.include({ value_text: "online", data_type: "string" });
  });

  it("when a fact is deleted, then current_state keeps its row (the primary's latest value stays too)", () => {
    const plan = planBatch([change("entity_values_ts", "d", { tenant_id: T, entity_id: 7, attribute_id: 3, ts: "2026-11-24T10:00:00Z" }, 10)]);
    expect(plan.states.rows).to.have.length(0);
    expect(plan.states.entityDeletes).to.have.length(0);
  });

  it("when an entity is deleted after its facts in the same batch, then its current_state is deleted, not rewritten; facts after the delete stay", () => {
    const before = planBatch([change("entity_values_ts", "c", reading(), 10), change("entities", "d", { tenant_id: T, entity_id: 7 }, 20)]);
    expect(before.states.entityDeletes).to.deep.equal([{ tenant_id: T, entity_id: 7, source_lsn: 20 }]);
    expect(before.states.rows).to.have.length(0);
    const after = planBatch([change("entities", "d", { tenant_id: T, entity_id: 7 }, 20), change("entity_values_ts", "c", reading(), 30)]);
    expect(after.states.rows).to.have.length(1);
  });

  it("when an entity has no type yet (NULL on the primary), then its dimension row carries the untyped marker, and the update that types it replaces it", () => {
    const untyped = planBatch([change("entities", "c", { tenant_id: T, entity_id: 8, entity_type: null, created_at: null }, 1)]);
    expect(untyped.entities.upserts[0]).to.include({ entity_type: UNTYPED_ENTITY });
    const typed = planBatch([
      change("entities", "c", { tenant_id: T, entity_id: 8, entity_type: null, created_at: null }, 1),
      change("entities", "u", { tenant_id: T, entity_id: 8, entity_type: "pump", created_at: null }, 2),
    ]);
    expect(typed.entities.upserts).to.have.length(1);
    expect(typed.entities.upserts[0]).to.include({ entity_type: "pump", source_lsn: 2 });
  });

  it("dimension changes are planned per key, last change wins", () => {
    const plan = planBatch([
      change("attributes", "c", { tenant_id: T, attribute_id: 3, name: "temperature", data_type: "decimal", is_hot: false, created_at: null }, 1),
      change("attributes", "u", { tenant_id: T, attribute_id: 3, name: "temperature", data_type: "decimal", is_hot: true, created_at: null }, 2),
      change("tenants", "c", { tenant_id: T, name: "acme", created_at: "2026-01-01T00:00:00Z" }, 3),
      change("entities", "c", { tenant_id: T, entity_id: 7, entity_type: "sensor", created_at: null }, 4),
    ]);
    expect(plan.attributes.upserts).to.deep.equal([
      { tenant_id: T, attribute_id: 3, name: "temperature", data_type: "decimal", is_hot: true, created_at: null, source_lsn: 2 },
    ]);
    expect(plan.tenants.upserts).to.have.length(1);
    expect(plan.entities.upserts[0]).to.include({ entity_type: "sensor" });
  });

  it("heartbeat rows are counted as ignored, never loaded", () => {
    const plan = planBatch([change("replication_heartbeat", "u", { id: 1, beat_at: "x", beat_seq: 2 }, 5)]);
    expect(plan.ignored).to.equal(1);
    expect(plan.facts.upserts).to.have.length(0);
  });
});
