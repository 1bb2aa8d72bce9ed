/**
 * Every statement the loader sends the warehouse for a batch (merges, rollups,
 * watermarks), checked against Redshift's documented grammar
 * (db/warehouse/redshift-grammar.ts): the deployed warehouse is Redshift and
 * none runs here. The statements are captured from applyPlan itself, so a new
 * statement is checked the day it is written.
 */
import { expect } from "chai";
import type { PoolClient } from "pg";
import { applyPlan } from "../../../app/cdc/loader/apply";
import type { BatchPlan } from "../../../app/cdc/loader/plan";
import type { StageLoader } from "../../../app/cdc/loader/staging/stage-loader";
import { checkRedshiftStatement } from "../../../db/warehouse/redshift-grammar";

const T = "00000000-0000-4000-8000-000000000001";
const ts = "2026-11-20T10:15:00.000Z";
const fact = { tenant_id: T, entity_id: 7, attribute_id: 3, ts, day: "2026-11-20", data_type: "decimal" as const, value_num: 1.5,
  value_text: null, value_bool: null, value_ts: null, received_at: ts, source_ts: ts, source_lsn: 100 };
const plan: BatchPlan = {
  tenants: { upserts: [{ tenant_id: T, name: "t", created_at: ts, source_lsn: 90 }], deletes: [{ tenant_id: T, source_lsn: 95 }] },
  attributes: { upserts: [{ tenant_id: T, attribute_id: 3, name: "temperature", data_type: "decimal", is_hot: true, created_at: ts, source_lsn: 91 }], deletes: [] },
  entities: { upserts: [{ tenant_id: T, entity_id: 7, entity_type: "sensor", created_at: ts, source_lsn: 92 }], deletes: [{ tenant_id: T, entity_id: 8, source_lsn: 96 }] },
  facts: { upserts: [fact], deletes: [{ tenant_id: T, entity_id: 7, attribute_id: 3, ts: "2026-11-20T09:00:00.000Z", source_lsn: 97 }] },
  states: { rows: [fact], entityDeletes: [{ tenant_id: T, entity_id: 8, source_lsn: 96 }] },
  ignored: 0,
};

describe("cdc loader: its warehouse statements are Redshift's", () => {
  it("when a batch with every kind of change is applied, then each statement it sends passes the Redshift grammar check", async () => {
    const sent: string[] = [];
    const client = {
      query: async (sql: string) => {
        sent.push(sql);
        return { rows: [], rowCount: 0 };
      },
    } as unknown as PoolClient;
    const stage: StageLoader = { load: async () => undefined, settle: async () => undefined };
    await applyPlan(client, plan, "atlas-cdc-loader", [
      { topic: "atlas.public.entity_values_ts", partition: 0, lastOffset: "41", lastSourceTsMs: Date.parse(ts), lastLsn: 100, pending: 0 },
    ], { loader: stage, batch: { group: "atlas-cdc-loader", partitions: [] } as never });
    expect(sent.length).to.be.greaterThan(20);
    expect(sent.some((s) => /agg_attribute_histogram/.test(s)), "the rollups ran").to.equal(true);
    for (const sql of sent) {
      const checked = checkRedshiftStatement(sql);
      expect(checked.problems, sql.replace(/\s+/g, " ").slice(0, 200)).to.deep.equal([]);
    }
  });
});
