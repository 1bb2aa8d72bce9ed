import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { schemaDefault } from "../services/container-settings";
import { tlsOnlyBucketPolicy } from "./staging-policies";

export interface StagingBucketArgs {
  kmsKeyArn: pulumi.Input<string>;
  /** Days after which a staged object expires. Defaults to 1 (S3 lifecycle's smallest unit). */
  expireAfterDays?: number;
}

/**
 * The key prefix of staged objects: the schema default of CDC_S3_PREFIX, so
 * the policies here and the loader's setting cannot disagree.
 */
export const STAGING_PREFIX = schemaDefault("CDC_S3_PREFIX") ?? "";
if (!STAGING_PREFIX) throw new Error("app/shared/config.ts: CDC_S3_PREFIX needs a default (the staging prefix infra scopes its policies to)");

/**
 * The S3 bucket the CDC loader stages micro-batches in for Redshift's COPY:
 * private (public access blocked, TLS only), encrypted with the stack key
 * (SSE-KMS with S3 Bucket Keys: one KMS request per bucket key rather than
 * per object, at one PUT per staging table every batch window), and a
 * lifecycle rule that expires staged objects. The loader deletes each
 * batch's objects after its commit; the rule removes what a crash leaves.
 * Expiry cannot break a retry: every attempt uploads before it COPYs.
 */
export class StagingBucket extends pulumi.ComponentResource {
  public readonly bucketName: pulumi.Output<string>;
  public readonly bucketArn: pulumi.Output<string>;
  public readonly prefix = STAGING_PREFIX;

  constructor(name: string, args: StagingBucketArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas:warehouse:StagingBucket", name, {}, opts);
    const days = args.expireAfterDays ?? 1;
    if (!Number.isInteger(days) || days < 1 || days > 7) {
      throw new Error(`StagingBucket: expireAfterDays must be a whole number of days from 1 to 7 (staged objects live seconds), got ${days}`);
    }

    // Transient data: destroying the stack may drop what is left in it.
    const bucket = new aws.s3.Bucket(`${name}`, { forceDestroy: true }, { parent: this });
    const publicAccess = new aws.s3.BucketPublicAccessBlock(`${name}`, {
      bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
    }, { parent: this });
    new aws.s3.BucketServerSideEncryptionConfiguration(`${name}`, {
      bucket: bucket.id,
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.kmsKeyArn }, bucketKeyEnabled: true }],
    }, { parent: this });
    new aws.s3.BucketLifecycleConfiguration(`${name}`, {
      bucket: bucket.id,
      rules: [{
        id: "expire-staged-batches",
        status: "Enabled",
        filter: { prefix: `${STAGING_PREFIX}/` },
        expiration: { days },
        abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
      }],
    }, { parent: this });
    new aws.s3.BucketPolicy(`${name}`, {
      bucket: bucket.id,
      policy: bucket.arn.apply((arn) => JSON.stringify(tlsOnlyBucketPolicy(arn))),
    }, { parent: this, dependsOn: [publicAccess] });

    // For S3 the bucket's id is its name.
    this.bucketName = bucket.id;
    this.bucketArn = bucket.arn;
    this.registerOutputs({ bucketName: this.bucketName, bucketArn: this.bucketArn });
  }
}
