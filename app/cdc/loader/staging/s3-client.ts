/**
 * The S3 client of the staging path. In AWS: the regional endpoint and the
 * task role's credentials (the SDK's default chain). Locally: the stack's
 * S3-compatible server (CDC_S3_ENDPOINT) with its dummy keys, path-style
 * addressing (no bucket subdomains on 127.0.0.1), and checksums only where
 * S3 requires them: the SDK's default CRC32 trailers on every PUT are
 * refused by S3Proxy ("A header you provided implies functionality that is
 * not implemented"), seen against the stack's S3Proxy 3.0.0.
 */
import { S3Client } from "@aws-sdk/client-s3";

export interface StagingS3Options {
  region: string;
  /** An S3-compatible server's URL; unset in AWS. */
  endpoint?: string;
  /** Static keys (the local server's); unset in AWS, where the task role signs. */
  accessKeyId?: string;
  secretAccessKey?: string;
}

export function stagingS3Client(opts: StagingS3Options): S3Client {
  if ((opts.accessKeyId === undefined) !== (opts.secretAccessKey === undefined)) {
    throw new Error("stagingS3Client: set both CDC_S3_ACCESS_KEY_ID and CDC_S3_SECRET_ACCESS_KEY, or neither (the default credential chain)");
  }
  const credentials = opts.accessKeyId ? { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey! } : undefined;
  if (!opts.endpoint) return new S3Client({ region: opts.region, credentials });
  return new S3Client({
    region: opts.region,
    endpoint: opts.endpoint,
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}
