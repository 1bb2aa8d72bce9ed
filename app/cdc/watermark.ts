/**
 * How far behind the primary the warehouse is, in seconds: what analytics
 * answers report as X-Data-Lag-Seconds (X-Data-Source: warehouse).
 *
 * The loader records per consumer group and source partition the newest
 * primary commit time it loaded (last_source_ts) and the partition's backlog
 * at that moment (pending). For one group the warehouse is complete up to:
 *   - the oldest last_source_ts among partitions that still had a backlog
 *     (the loader is behind there, so nothing newer is guaranteed), else
 *   - the newest last_source_ts of all partitions: every partition was
 *     drained, and heartbeat rows (committed on the primary every second by
 *     the services and every 10 s by Debezium's action query) keep that time
 *     current, so an idle system reads a lag of a few seconds, not a lag
 *     growing since the last reading.
 * Several groups may load one warehouse (tests, a blue/green loader): the
 * freshest group counts. Debezium's own heartbeat topic is left out: its
 * time is the connector's clock when it beat, not a commit it has passed.
 * A stopped connector or loader stops the heartbeats arriving, so the lag
 * then grows as it should.
 */
import type { Pool, PoolClient } from "../shared/db";

// Portable: CASE inside MIN instead of FILTER (Redshift lacks FILTER); the
// lag is taken against the caller's clock (Redshift runs NOW() on the leader
// node only), as epoch seconds of the watermark.
const LAG_SQL = `
  SELECT EXTRACT(EPOCH FROM max(w)) AS watermark
  FROM (
    SELECT coalesce(min(CASE WHEN pending > 0 THEN last_source_ts END), max(last_source_ts)) AS w
    FROM loader_watermarks
    WHERE topic NOT LIKE '\\_\\_debezium%' ESCAPE '\\' AND ($1::varchar IS NULL OR consumer_group = $1)
    GROUP BY consumer_group
  ) g`;

/**
 * The warehouse lag in seconds (≥ 0), or null when nothing was ever loaded.
 * `group` limits it to one consumer group. Defaults to all groups.
 */
export async function readWarehouseLag(warehouse: Pool | PoolClient, group?: string): Promise<number | null> {
  const { rows } = await warehouse.query<{ watermark: string | number | null }>(LAG_SQL, [group ?? null]);
  const watermark = rows[0]?.watermark;
  if (watermark === null || watermark === undefined) return null;
  return Math.max(0, Date.now() / 1000 - Number(watermark));
}

/** The watermark itself: the primary commit time up to which the warehouse is complete. */
export async function readWarehouseWatermark(warehouse: Pool | PoolClient, group?: string): Promise<Date | null> {
  const lag = await readWarehouseLag(warehouse, group);
  return lag === null ? null : new Date(Date.now() - lag * 1000);
}
