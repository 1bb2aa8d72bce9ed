/**
 * The publication the Debezium connector reads (pgoutput). Created by us, not
 * by Debezium (`publication.autocreate.mode=disabled`), because only here can
 * we say `publish_via_partition_root = true`: changes of every partition of
 * entity_values_ts, including partitions created after the connector
 * started, are published as changes of the root table, so neither the
 * publication nor the connector needs touching when pg_partman adds a day.
 *
 * Replica identity stays DEFAULT (the primary key) on every table: a delete
 * then carries the key, which is all the warehouse needs to delete by key;
 * updates always carry the full new row. FULL would write every old row into
 * the WAL on each projection update (the hottest write of the system) for
 * nothing we use.
 */
import type { Pool } from "../shared/db";
import { CAPTURED_TABLES, PUBLICATION_NAME } from "./connector-config";

export interface PublicationState {
  created: boolean;
  /** Tables added to an existing publication (it was created by an older version). */
  added: string[];
}

/** Creates the publication, or brings an existing one to the captured table set. Idempotent. */
export async function ensurePublication(primary: Pool): Promise<PublicationState> {
  const client = await primary.connect();
  try {
    const missing = await client.query<{ name: string }>(
      `SELECT t AS name FROM unnest($1::text[]) t WHERE to_regclass('public.' || t) IS NULL`,
      [[...CAPTURED_TABLES]],
    );
    if (missing.rows.length > 0) {
      throw new Error(
        `cannot create publication ${PUBLICATION_NAME}: missing table(s) ${missing.rows.map((r) => r.name).join(", ")}; run npm run db:migrate first`,
      );
    }
    const tables = CAPTURED_TABLES.map((t) => `public.${t}`).join(", ");
    // Serialise concurrent registrations (CREATE PUBLICATION is not IF NOT EXISTS).
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(hashtext('atlas_cdc_publication'))");
    const existing = await client.query<{ pubviaroot: boolean }>(
      "SELECT pubviaroot FROM pg_publication WHERE pubname = $1",
      [PUBLICATION_NAME],
    );
    let created = false;
    let added: string[] = [];
    if (existing.rows.length === 0) {
      await client.query(
        `CREATE PUBLICATION ${PUBLICATION_NAME} FOR TABLE ${tables} WITH (publish_via_partition_root = true)`,
      );
      created = true;
    } else {
      const have = await client.query<{ tablename: string }>(
        "SELECT tablename FROM pg_publication_tables WHERE pubname = $1 AND schemaname = 'public'",
        [PUBLICATION_NAME],
      );
      const present = new Set(have.rows.map((r) => r.tablename));
      added = CAPTURED_TABLES.filter((t) => !present.has(t));
      // SET TABLE also drops tables that should not be there (e.g. staging by mistake).
      await client.query(`ALTER PUBLICATION ${PUBLICATION_NAME} SET TABLE ${tables}`);
      if (!existing.rows[0].pubviaroot) {
        await client.query(`ALTER PUBLICATION ${PUBLICATION_NAME} SET (publish_via_partition_root = true)`);
      }
    }
    await client.query("COMMIT");
    return { created, added };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** The replication slot as the server sees it: how much WAL it holds back. */
export interface SlotState {
  active: boolean;
  /** `reserved`, `extended`, `unreserved` or `lost` (max_slot_wal_keep_size exceeded). */
  walStatus: string | null;
  /** Bytes of WAL between the slot's restart point and the current WAL position. */
  retainedBytes: number;
}

export async function readSlotState(primary: Pool, slotName: string): Promise<SlotState | null> {
  const { rows } = await primary.query<{ active: boolean; wal_status: string | null; retained: string | null }>(
    `SELECT active, wal_status, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained
     FROM pg_replication_slots WHERE slot_name = $1`,
    [slotName],
  );
  if (rows.length === 0) return null;
  return { active: rows[0].active, walStatus: rows[0].wal_status, retainedBytes: Number(rows[0].retained ?? 0) };
}
