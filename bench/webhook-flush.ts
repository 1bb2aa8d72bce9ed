/**
 * What the webhook outbox costs the batch writer's flush (issue 18): the
 * storage step (storeBatch: COPY, atlas_webhook_capture, stage_flush,
 * COMMIT) on batches of the writer's shape, in rounds that alternate
 *   none:       no tenant has a webhook endpoint (the common case);
 *   subscribed: the batch's tenant has one, so every changed entity gets an event;
 * and the capture step's own time in `none` (what the flush did before the
 * outbox is the same transaction without that one statement).
 *
 *   set -a; . .atlas/stack.env; set +a
 *   npx ts-node --transpile-only bench/webhook-flush.ts [--rounds 6] [--batches 20] [--entities 500] [--attrs 10]
 */
import { randomBytes } from "crypto";
import { createTestDatabase } from "../tests/helpers/db";
import { createTenant } from "../app/shared/tenants";
import { storeBatch } from "../app/ingest/writer/store-batch";
import { stepSeconds } from "../app/ingest/writer/metrics";
import type { TelemetryMessage } from "../app/ingest/types";
import { configureLog } from "../app/shared/log";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROUNDS = arg("rounds", 6);
const BATCHES = arg("batches", 20);
const ENTITIES = arg("entities", 500);
const ATTRS = arg("attrs", 10);

async function captureSeconds(): Promise<number> {
  const m = await stepSeconds.get();
  return m.values.find((v) => v.metricName?.endsWith("_sum") && v.labels.step === "webhooks")?.value ?? 0;
}

async function main() {
  configureLog({ level: "error" });
  const db = await createTestDatabase();
  try {
    const make = async (name: string) => {
      const t = await createTenant(db.pool, `${name}-${randomBytes(3).toString("hex")}`);
      const c = await db.pool.connect();
      try {
        await c.query("BEGIN");
        await c.query("SELECT set_config('app.tenant_id', $1, true)", [t.tenant_id]);
        const { rows } = await c.query<{ attribute_id: number }>(
          "INSERT INTO attributes (tenant_id, name, data_type) SELECT $1, 'a' || g, 'decimal' FROM generate_series(1, $2) g RETURNING attribute_id",
          [t.tenant_id, ATTRS],
        );
        await c.query("COMMIT");
        return { id: t.tenant_id, attrs: rows.map((r) => r.attribute_id) };
      } finally {
        c.release();
      }
    };
    const modes = { none: await make("none"), subscribed: await make("subscribed") };
    await db.pool.query(
      `INSERT INTO webhook_endpoints (tenant_id, url, event_types, secret_sealed) VALUES ($1, 'https://example.com/hook', '{entity.created,entity.updated}', 'v1:x')`,
      [modes.subscribed.id],
    );
    const types = new Map<number, "decimal">();
    for (const m of Object.values(modes)) for (const a of m.attrs) types.set(a, "decimal");
    let tick = Date.parse("2026-12-01T00:00:00Z");
    const batch = (tenant: { id: string; attrs: number[] }): TelemetryMessage[] => {
      tick += 1000;
      const ts = new Date(tick).toISOString();
      return Array.from({ length: ENTITIES }, (_, e) => ({
        v: 1 as const, tenant_id: tenant.id, received_at: ts, entity_id: String(e + 1), entity_type: "sensor",
        readings: [{ ts, values: tenant.attrs.map((a) => [a, Math.round(Math.random() * 1e4) / 100] as [number, number]) }],
      }));
    };
    const totals = { none: { s: 0, values: 0, capture: 0 }, subscribed: { s: 0, values: 0, capture: 0 } };
    // Warm-up: entities exist, caches and plans are hot.
    for (const m of Object.values(modes)) await storeBatch(db.pool, [batch(m)], (_t, id) => types.get(id));
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of (r % 2 === 0 ? ["none", "subscribed"] : ["subscribed", "none"]) as Array<keyof typeof modes>) {
        const before = await captureSeconds();
        const started = process.hrtime.bigint();
        for (let b = 0; b < BATCHES; b++) totals[mode].values += (await storeBatch(db.pool, [batch(modes[mode])], (_t, id) => types.get(id))).values;
        totals[mode].s += Number(process.hrtime.bigint() - started) / 1e9;
        totals[mode].capture += (await captureSeconds()) - before;
      }
    }
    const events = (await db.pool.query("SELECT count(*)::int AS n FROM webhook_deliveries")).rows[0].n;
    const rate = (m: keyof typeof totals) => totals[m].values / totals[m].s;
    const before = totals.none.values / (totals.none.s - totals.none.capture);
    const out = {
      batch_values: ENTITIES * ATTRS,
      values_per_s_before: Math.round(before),
      values_per_s_none: Math.round(rate("none")),
      values_per_s_subscribed: Math.round(rate("subscribed")),
      capture_ms_per_batch_none: (totals.none.capture * 1000) / (ROUNDS * BATCHES),
      capture_ms_per_batch_subscribed: (totals.subscribed.capture * 1000) / (ROUNDS * BATCHES),
      none_vs_before: rate("none") / before,
      subscribed_vs_none: rate("subscribed") / rate("none"),
      events_enqueued: events,
    };
    console.log(JSON.stringify(out, null, 2));
  } finally {
    await db.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
