/**
 * PostgreSQL 15 parameters for the primary (and its replicas).
 *
 * The seeds set `wal_level = logical`; RDS does not allow that parameter.
 * Logical decoding is switched on with `rds.logical_replication = 1`, which
 * sets wal_level=logical at the next reboot (AWS docs, "Performing logical
 * replication for Amazon RDS for PostgreSQL"). Static parameters need
 * `applyMethod: "pending-reboot"`. Pure; tested without mocks.
 */
export interface DbParameter {
  name: string;
  value: string;
  applyMethod: "immediate" | "pending-reboot";
}

export interface DbParameterInputs {
  /** Upper bound of WAL a replication slot may retain, MB. */
  maxSlotWalKeepSizeMb: number;
}

export const DB_PARAMETER_GROUP_FAMILY = "postgres15";

export function dbParameters(inputs: DbParameterInputs): DbParameter[] {
  return [
    // Logical decoding for Debezium (replaces the seeds' wal_level=logical).
    { name: "rds.logical_replication", value: "1", applyMethod: "pending-reboot" },
    // Slots: Debezium's one plus headroom for re-snapshots; senders: slots + physical replicas.
    { name: "max_replication_slots", value: "10", applyMethod: "pending-reboot" },
    { name: "max_wal_senders", value: "15", applyMethod: "pending-reboot" },
    // Bounds WAL kept for a slot whose consumer stopped: past this PostgreSQL invalidates the
    // slot instead of filling the disk (PostgreSQL 13+). An alarm fires at half (monitoring/thresholds.ts).
    { name: "max_slot_wal_keep_size", value: String(inputs.maxSlotWalKeepSizeMb), applyMethod: "immediate" },
    // pg_stat_statements feeds Performance Insights' top SQL. No pg_cron: partition
    // maintenance runs in the batch writer under an advisory lock (db/README.md
    // "Maintenance" argues why), and an unused preloaded extension is only surface.
    { name: "shared_preload_libraries", value: "pg_stat_statements", applyMethod: "pending-reboot" },
    // Clients must use TLS (encryption in transit).
    { name: "rds.force_ssl", value: "1", applyMethod: "immediate" },
    // Replicas answer `eventual` reads; feedback avoids query cancellations from vacuum on the primary.
    { name: "hot_standby_feedback", value: "1", applyMethod: "immediate" },
    { name: "log_min_duration_statement", value: "1000", applyMethod: "immediate" },
    // The write path's WAL (db/README.md "Measured"; the local stack runs the same in
    // scripts/stack/postgres.sh): checkpoints by time, not by WAL volume, so fewer
    // full-page images, and those compressed. RDS takes max_wal_size in MB.
    { name: "max_wal_size", value: "8192", applyMethod: "immediate" },
    { name: "checkpoint_timeout", value: "900", applyMethod: "immediate" },
    { name: "wal_compression", value: "lz4", applyMethod: "immediate" },
  ];
}
