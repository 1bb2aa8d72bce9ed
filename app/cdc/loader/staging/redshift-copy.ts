/**
 * The Redshift COPY of one staged object, in the documented grammar
 * (Database Developer Guide, "COPY"):
 *
 *   COPY table-name [ column-list ] FROM data_source authorization
 *   [ [ FORMAT ] [ AS ] data_format ] [ parameter [ argument ] [, ... ] ]
 *
 * with data_source 's3://bucket/key', authorization IAM_ROLE '<role ARN>'
 * (the role attached to the cluster: no keys in SQL), FORMAT AS CSV, GZIP,
 * and the conversions our rows need:
 * - TIMEFORMAT 'auto': timestamps are ISO 8601 with 'T', microseconds and 'Z',
 *   which the default 'YYYY-MM-DD HH:MI:SS' does not read;
 * - DATEFORMAT 'auto': dates are 'YYYY-MM-DD' (the default reads them too;
 *   'auto' keeps both columns kinds on one rule);
 * - NULL AS is left at its documented default '\N', what csv.ts writes;
 * - COMPUPDATE OFF: the target is an empty temp table, for which COPY would
 *   otherwise pick compression encodings on every batch (wasted work for rows
 *   that live a second).
 * REGION only when the bucket is in another region than the cluster.
 */
export interface RedshiftCopyArgs {
  table: string;
  columns: readonly string[];
  bucket: string;
  key: string;
  iamRoleArn: string;
  /** The bucket's region when it differs from the cluster's. */
  region?: string;
}

/** Values spliced into single-quoted literals: none may hold a quote, a backslash or white space. */
function literal(what: string, value: string): string {
  if (!/^[^'\\\s]+$/.test(value)) throw new Error(`redshift COPY: ${what} "${value}" cannot be quoted safely`);
  return `'${value}'`;
}

export function redshiftCopySql(a: RedshiftCopyArgs): string {
  if (!/^arn:[\w-]+:iam::\d{12}:role\/\S+$/.test(a.iamRoleArn)) {
    throw new Error(`redshift COPY: IAM_ROLE must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), got "${a.iamRoleArn}"`);
  }
  return [
    `COPY ${a.table} (${a.columns.join(", ")})`,
    `FROM ${literal("object", `s3://${a.bucket}/${a.key}`)}`,
    `IAM_ROLE ${literal("role", a.iamRoleArn)}`,
    ...(a.region ? [`REGION ${literal("region", a.region)}`] : []),
    "FORMAT AS CSV",
    "GZIP",
    "TIMEFORMAT 'auto'",
    "DATEFORMAT 'auto'",
    "COMPUPDATE OFF",
  ].join("\n");
}
