/**
 * Stages a micro-batch's rows in S3, then COPYs them into the staging table:
 * the way Redshift loads (COPY FROM 's3://…' with the cluster's IAM role);
 * the local PostgreSQL warehouse cannot read S3, so there the loader streams
 * the same object back into COPY FROM STDIN, and the local stack runs the same
 * upload, key and retry path against its S3-compatible server.
 *
 * Every attempt uploads before it COPYs, under the key of the batch identity
 * (stage-loader.ts): a loader killed between upload and COPY, or after COPY
 * but before COMMIT, leaves an object that the redelivered batch overwrites
 * and then loads once. An object is never loaded without this attempt having
 * written it, so neither a stale object nor the lifecycle rule expiring one
 * can change what a batch loads.
 */
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Readable } from "stream";
import { createGunzip } from "zlib";
import type { PoolClient } from "../../../shared/db";
import { log } from "../../../shared/log";
import { copyFromStdinSql, copyIn } from "./copy-stdin";
import { CSV_NULL, gzippedCsv } from "./csv";
import { redshiftCopySql } from "./redshift-copy";
import { batchDigest, checkSpec, stagedKey, type BatchIdentity, type StageLoader, type StageSpec } from "./stage-loader";

/** The warehouse's SQL (the shape of db/warehouse/dialect.ts's Dialect, which the loader detects from the server). */
export type WarehouseDialect = "postgres" | "redshift";

export interface S3StagingOptions {
  bucket: string;
  /** Key prefix; the IAM policies of infra/warehouse are scoped to it. */
  prefix: string;
  s3: S3Client;
  dialect: WarehouseDialect;
  /** The role attached to the Redshift cluster for COPY. Required for the redshift dialect. */
  iamRoleArn?: string;
  /** The bucket's region, only when it is not the cluster's (Redshift's REGION). */
  region?: string;
}

export interface S3StagingLoader extends StageLoader {
  /** The first half of `load`: writes (or overwrites) the batch's object for `spec`; returns its key. */
  upload(spec: StageSpec, rows: unknown[][], batch: BatchIdentity): Promise<string>;
  /** The second half: COPYs the object at `key` into `spec.name` on `client`. */
  copy(client: PoolClient, spec: StageSpec, key: string): Promise<void>;
}

export function s3StagingLoader(opts: S3StagingOptions): S3StagingLoader {
  if (opts.dialect === "redshift" && !opts.iamRoleArn) {
    throw new Error("s3StagingLoader: the redshift dialect needs iamRoleArn (WAREHOUSE_IAM_ROLE_ARN), the role Redshift assumes to read the bucket");
  }
  const { bucket, s3 } = opts;
  // Keys written per batch digest, deleted by settle() once the batch committed.
  const written = new Map<string, Set<string>>();

  const copyFromS3: (client: PoolClient, spec: StageSpec, key: string) => Promise<void> =
    opts.dialect === "redshift"
      ? async (client, spec, key) => {
          await client.query(redshiftCopySql({
            table: spec.name, columns: spec.columns.map(([c]) => c), bucket, key, iamRoleArn: opts.iamRoleArn!, region: opts.region,
          }));
        }
      : async (client, spec, key) => {
          const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
          if (!(object.Body instanceof Readable)) throw new Error(`s3 staging: GetObject ${key} returned no stream`);
          await copyIn(client, copyFromStdinSql(spec, `FORMAT csv, NULL '${CSV_NULL}'`), object.Body.pipe(createGunzip()));
        };

  const loader: S3StagingLoader = {
    async upload(spec, rows, batch) {
      checkSpec(spec);
      const key = stagedKey(opts.prefix, batch, spec.name);
      const body = await gzippedCsv(rows, spec.columns.length);
      // One PUT (no multipart): a batch object is megabytes, and a PUT replaces the key atomically.
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "application/gzip" }));
      const digest = batchDigest(batch);
      if (!written.has(digest)) written.set(digest, new Set());
      written.get(digest)!.add(key);
      return key;
    },
    copy: copyFromS3,
    async load(client, spec, rows, batch) {
      if (rows.length === 0) return;
      await copyFromS3(client, spec, await loader.upload(spec, rows, batch));
    },
    async settle(batch) {
      const digest = batchDigest(batch);
      const keys = [...(written.get(digest) ?? [])];
      written.delete(digest);
      await Promise.all(keys.map((key) =>
        s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch((err: Error) => {
          // Committed already; the lifecycle rule removes the object later.
          log.warn("cdc staged object not deleted", { bucket, key, error: err });
        })));
    },
  };
  return loader;
}
