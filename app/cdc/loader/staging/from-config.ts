/**
 * Which staging path the loader runs, from the warehouse's dialect (detected
 * from the server: db/warehouse/dialect.ts) and the settings:
 * - Redshift: COPY FROM S3, always (Redshift has no COPY FROM STDIN); needs
 *   CDC_S3_BUCKET and WAREHOUSE_IAM_ROLE_ARN, which infra derives;
 * - PostgreSQL with CDC_S3_BUCKET (the local stack): the same upload, then
 *   the object streamed back into COPY FROM STDIN;
 * - PostgreSQL without: COPY FROM STDIN (npm start with no S3).
 */
import { ConfigError, type AtlasConfig } from "../../../shared/config";
import { copyStdinLoader } from "./copy-stdin";
import { stagingS3Client } from "./s3-client";
import { s3StagingLoader, type WarehouseDialect } from "./s3-staging";
import type { StageLoader } from "./stage-loader";

export function stageLoaderFromConfig(config: AtlasConfig, dialect: WarehouseDialect): StageLoader {
  if (dialect === "redshift") {
    if (!config.CDC_S3_BUCKET) throw new ConfigError("CDC_S3_BUCKET", "is required: a Redshift warehouse loads by COPY from S3");
    if (!config.WAREHOUSE_IAM_ROLE_ARN) throw new ConfigError("WAREHOUSE_IAM_ROLE_ARN", "is required: the role Redshift's COPY assumes to read CDC_S3_BUCKET");
  }
  if (!config.CDC_S3_BUCKET) return copyStdinLoader;
  return s3StagingLoader({
    bucket: config.CDC_S3_BUCKET,
    prefix: config.CDC_S3_PREFIX,
    s3: stagingS3Client({
      region: config.CDC_S3_REGION,
      endpoint: config.CDC_S3_ENDPOINT,
      accessKeyId: config.CDC_S3_ACCESS_KEY_ID,
      secretAccessKey: config.CDC_S3_SECRET_ACCESS_KEY,
    }),
    dialect,
    iamRoleArn: config.WAREHOUSE_IAM_ROLE_ARN,
  });
}
