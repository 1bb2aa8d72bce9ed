/**
 * How a micro-batch's rows reach a (temp) staging table of the warehouse, the
 * step between the plan and the merges of apply.ts. Two ways, one interface:
 *
 * - copy-stdin.ts: COPY FROM STDIN over the warehouse connection (PostgreSQL);
 * - s3-staging.ts: a gzipped CSV object in S3, then COPY FROM 's3://…' on
 *   Redshift, or (the local PostgreSQL warehouse, which cannot read S3) the
 *   same object streamed back into COPY FROM STDIN.
 *
 * Neither is the idempotency of the loader: the staging tables are TEMP, so a
 * crash anywhere before COMMIT leaves nothing behind, and the merges of
 * apply.ts are keyed by source_lsn. What the S3 path adds is an object per
 * batch that outlives a crash; its key is derived from the batch's identity so
 * that the redelivered batch overwrites it instead of adding a second one.
 */
import { createHash, randomUUID } from "crypto";
import type { PoolClient } from "../../../shared/db";

/** A staging table: its name and columns as `[name, SQL type]` (apply.ts's StageSpec). */
export interface StageSpec {
  name: string;
  columns: [string, string][];
}

/** One Kafka partition's part of a micro-batch (apply.ts's WatermarkUpdate fits). */
export interface PartitionRange {
  topic: string;
  partition: number;
  lastOffset: string;
}

/**
 * The identity of a micro-batch: the consumer group and, per partition, the
 * last offset. The first offset is not needed: a redelivered batch starts at
 * the committed offset + 1, which cannot move until this batch commits.
 */
export interface BatchIdentity {
  group: string;
  ranges: readonly PartitionRange[];
}

/**
 * The identity of a plan applied from Kafka partitions (loader.ts: its
 * watermarks). A plan applied outside a batch (a dead-letter replay, no
 * ranges) gets a one-off identity: nothing redelivers it. Make it once per
 * batch and pass the same object to every load and to settle.
 */
export function batchIdentity(group: string, ranges: readonly PartitionRange[]): BatchIdentity {
  if (ranges.length > 0) return { group, ranges: ranges.map(({ topic, partition, lastOffset }) => ({ topic, partition, lastOffset })) };
  return { group, ranges: [{ topic: `one-off-${randomUUID()}`, partition: 0, lastOffset: "0" }] };
}

export interface StageLoader {
  /** Fills the existing table `spec.name` with `rows` (values in `spec.columns` order), in the caller's transaction. */
  load(client: PoolClient, spec: StageSpec, rows: unknown[][], batch: BatchIdentity): Promise<void>;
  /**
   * Called after the warehouse transaction of `batch` committed: drops what
   * the load left outside the database (S3 objects). Best effort; the bucket's
   * lifecycle rule expires whatever a crash leaves.
   */
  settle(batch: BatchIdentity): Promise<void>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** Table and column names are spliced into SQL and object keys: plain lower-case identifiers only. */
export function checkSpec(spec: StageSpec): void {
  for (const name of [spec.name, ...spec.columns.map(([c]) => c)]) {
    if (!IDENTIFIER.test(name)) throw new Error(`staging: "${name}" is not a plain identifier (${IDENTIFIER})`);
  }
  if (spec.columns.length === 0) throw new Error(`staging: ${spec.name} has no columns`);
}

/**
 * A fixed-length digest of the batch identity. Ranges are sorted, so the
 * order partitions were fetched in does not change the key.
 */
export function batchDigest(batch: BatchIdentity): string {
  if (batch.ranges.length === 0) throw new Error("staging: a batch identity needs at least one partition range");
  const ranges = [...batch.ranges]
    .map((r) => [r.topic, r.partition, String(r.lastOffset)] as const)
    .sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : a[0] < b[0] ? -1 : 1));
  return createHash("sha256").update(JSON.stringify([batch.group, ranges])).digest("hex").slice(0, 32);
}

/**
 * `<prefix>/<group>/<digest>/<table>.csv.gz`. Redshift's COPY FROM
 * 's3://bucket/x' loads every object whose key starts with x, so no key may
 * be a prefix of another: the digest has a fixed length and the table name,
 * an identifier, is directly followed by ".csv.gz" (an identifier has no dot).
 */
export function stagedKey(prefix: string, batch: BatchIdentity, table: string): string {
  const group = batch.group.replace(/[^A-Za-z0-9._-]/g, "_");
  return `${prefix.replace(/\/+$/, "")}/${group}/${batchDigest(batch)}/${table}.csv.gz`;
}
