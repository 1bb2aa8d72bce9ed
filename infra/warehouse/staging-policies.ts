/**
 * The IAM policy documents of the CDC staging bucket, as pure functions of
 * ARNs (tested without mocks and under them). Least privilege, scoped to the
 * staging prefix, and KMS use scoped by S3's encryption context to this
 * bucket (with S3 Bucket Keys the context is the bucket's ARN), so neither
 * role can use the stack key for anything else.
 */

export interface StagingScope {
  bucketArn: string;
  /** Key prefix without a trailing slash (CDC_S3_PREFIX). */
  prefix: string;
  kmsKeyArn: string;
}

export interface PolicyStatement {
  Effect: "Allow" | "Deny";
  Action: string[];
  Resource: string[];
  Principal?: "*";
  Condition?: Record<string, Record<string, string | string[]>>;
}
export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

const objects = (s: StagingScope) => `${s.bucketArn}/${s.prefix}/*`;
const viaThisBucket = (s: StagingScope) => ({ StringEquals: { "kms:EncryptionContext:aws:s3:arn": s.bucketArn } });

/**
 * Redshift's COPY role: COPY needs LIST on the bucket and GET on the objects
 * (Developer Guide, "IAM permissions for COPY, UNLOAD, and CREATE LIBRARY"),
 * and Decrypt for SSE-KMS objects. Nothing to write: COPY only reads.
 */
export function redshiftCopyPolicy(s: StagingScope): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Action: ["s3:GetObject"], Resource: [objects(s)] },
      { Effect: "Allow", Action: ["s3:ListBucket"], Resource: [s.bucketArn], Condition: { StringLike: { "s3:prefix": [`${s.prefix}/*`] } } },
      { Effect: "Allow", Action: ["kms:Decrypt"], Resource: [s.kmsKeyArn], Condition: viaThisBucket(s) },
    ],
  };
}

/**
 * The CDC loader's task role: PUT a batch's objects (one PUT each, never
 * multipart, so GenerateDataKey suffices for SSE-KMS) and DELETE them after
 * the commit. No GET: in AWS Redshift reads the objects; only the local
 * PostgreSQL warehouse has the loader stream them back.
 */
export function loaderStagingPolicy(s: StagingScope): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Action: ["s3:PutObject", "s3:DeleteObject"], Resource: [objects(s)] },
      { Effect: "Allow", Action: ["kms:GenerateDataKey"], Resource: [s.kmsKeyArn], Condition: viaThisBucket(s) },
    ],
  };
}

/** Bucket policy: every request without TLS is refused, whoever signs it. */
export function tlsOnlyBucketPolicy(bucketArn: string): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [{
      Effect: "Deny",
      Principal: "*",
      Action: ["s3:*"],
      Resource: [bucketArn, `${bucketArn}/*`],
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    }],
  };
}
