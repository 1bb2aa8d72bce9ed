/**
 * The Redshift COPY of a staged batch, against the documented grammar
 * (Database Developer Guide, "COPY"):
 *   COPY table-name [ column-list ] FROM data_source authorization
 *   [ [ FORMAT ] [ AS ] data_format ] [ parameter [ argument ] [, ... ] ]
 * and the object keys and CSV it reads.
 */
import { expect } from "chai";
import { parseConfig } from "../../../app/shared/config";
import { copyStdinLoader } from "../../../app/cdc/loader/staging/copy-stdin";
import { csvRows } from "../../../app/cdc/loader/staging/csv";
import { stageLoaderFromConfig } from "../../../app/cdc/loader/staging/from-config";
import { redshiftCopySql } from "../../../app/cdc/loader/staging/redshift-copy";
import { batchDigest, batchIdentity, stagedKey, type BatchIdentity } from "../../../app/cdc/loader/staging/stage-loader";

const ROLE = "arn:aws:iam::123456789012:role/atlas-dw-copy";
const args = {
  table: "cdc_stage_facts",
  columns: ["tenant_id", "entity_id", "ts", "day", "value_text"],
  bucket: "atlas-dw-staging-1a2b3c",
  key: "cdc-staging/atlas-cdc-loader/0123456789abcdef0123456789abcdef/cdc_stage_facts.csv.gz",
  iamRoleArn: ROLE,
};

/** COPY <table> (<cols>) FROM '<s3 url>' IAM_ROLE '<arn>' [REGION '<r>'] FORMAT AS CSV <parameters…> */
const GRAMMAR = /^COPY ([a-z_][a-z0-9_]*) \(([a-z_][a-z0-9_]*(?:, [a-z_][a-z0-9_]*)*)\)\nFROM '(s3:\/\/[^'\s]+)'\nIAM_ROLE '([^'\s]+)'(?:\nREGION '([a-z0-9-]+)')?\nFORMAT AS CSV((?:\n.+)*)$/;

function parse(sql: string) {
  const m = GRAMMAR.exec(sql);
  if (!m) throw new Error(`not in the COPY grammar:\n${sql}`);
  return { table: m[1], columns: m[2].split(", "), from: m[3], role: m[4], region: m[5], parameters: m[6].split("\n").filter(Boolean) };
}

describe("Redshift COPY of a staged batch", () => {
  it("names the table and its columns, FROM the object's s3:// URL, IAM_ROLE the cluster's role, FORMAT AS CSV", () => {
    const copy = parse(redshiftCopySql(args));
    expect(copy).to.deep.include({ table: "cdc_stage_facts", columns: args.columns, from: `s3://${args.bucket}/${args.key}`, role: ROLE, region: undefined });
  });

  it("reads gzip and ISO 8601 timestamps, skips compression analysis, and leaves NULL AS at its default \\N", () => {
    const { parameters } = parse(redshiftCopySql(args));
    expect(parameters).to.deep.equal(["GZIP", "TIMEFORMAT 'auto'", "DATEFORMAT 'auto'", "COMPUPDATE OFF"]);
  });

  it("authorizes only by role: no keys, no CREDENTIALS, no session token in the SQL", () => {
    const sql = redshiftCopySql(args);
    for (const word of ["CREDENTIALS", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN", "aws_access_key_id"]) expect(sql).not.to.include(word);
  });

  it("adds REGION only when the bucket is in another region than the cluster", () => {
    expect(parse(redshiftCopySql({ ...args, region: "eu-west-1" })).region).to.equal("eu-west-1");
  });

  it("when a value would break out of its quotes or the role is no IAM role ARN, then it refuses to render", () => {
    expect(() => redshiftCopySql({ ...args, key: "a' IAM_ROLE 'x" })).to.throw(/cannot be quoted safely/);
    expect(() => redshiftCopySql({ ...args, key: "a\\b" })).to.throw(/cannot be quoted safely/);
    expect(() => redshiftCopySql({ ...args, iamRoleArn: "arn:aws:s3:::bucket" })).to.throw(/IAM role ARN/);
  });
});

describe("staged object keys", () => {
  const batch: BatchIdentity = {
    group: "atlas-cdc-loader",
    ranges: [{ topic: "atlas.public.entity_values_ts", partition: 2, lastOffset: "180" }, { topic: "atlas.public.entities", partition: 0, lastOffset: "7" }],
  };

  it("the same batch gets the same key whatever order its partitions came in (a redelivery overwrites it)", () => {
    const reordered = { ...batch, ranges: [...batch.ranges].reverse() };
    expect(stagedKey("cdc-staging", reordered, "cdc_stage_facts")).to.equal(stagedKey("cdc-staging", batch, "cdc_stage_facts"));
  });

  it("another offset, partition or group is another key", () => {
    const key = batchDigest(batch);
    expect(batchDigest({ ...batch, ranges: [{ ...batch.ranges[0], lastOffset: "181" }, batch.ranges[1]] })).not.to.equal(key);
    expect(batchDigest({ ...batch, ranges: [batch.ranges[0]] })).not.to.equal(key);
    expect(batchDigest({ ...batch, group: "other" })).not.to.equal(key);
  });

  it("a plan applied outside a Kafka batch (no ranges) gets a one-off identity, never another batch's key", () => {
    const a = batchIdentity("atlas-cdc-loader", []);
    expect(batchDigest(a)).to.equal(batchDigest(a));
    expect(batchDigest(a)).not.to.equal(batchDigest(batchIdentity("atlas-cdc-loader", [])));
    const watermark = { topic: "t", partition: 1, lastOffset: "9", pending: 3, lastLsn: 7 }; // apply.ts's WatermarkUpdate carries more
    expect(batchIdentity("g", [watermark]).ranges).to.deep.equal([{ topic: "t", partition: 1, lastOffset: "9" }]);
  });

  it("no key is a prefix of another (COPY FROM 's3://…/x' loads every object starting with x)", () => {
    const tables = ["cdc_stage_state", "cdc_stage_state_deletes", "cdc_stage_facts", "cdc_stage_tenants"];
    const batches = [batch, { ...batch, ranges: [batch.ranges[0]] }, { ...batch, group: "atlas-cdc-loader-2" }];
    const keys = batches.flatMap((b) => tables.map((t) => stagedKey("cdc-staging/", b, t)));
    for (const a of keys) for (const b of keys) if (a !== b) expect(b.startsWith(a), `${a} is a prefix of ${b}`).to.equal(false);
    expect(keys[0]).to.match(/^cdc-staging\/atlas-cdc-loader\/[0-9a-f]{32}\/cdc_stage_state\.csv\.gz$/);
  });
});

describe("staged CSV", () => {
  it("quotes every value (doubling quotes) and writes NULL as an unquoted \\N, so '' and NULL stay apart", () => {
    const csv = csvRows([["a,b", 'say "hi"', "", null, "line\nbreak", true, 1.5, "\\N"]], 8);
    expect(csv).to.equal('"a,b","say ""hi""","",\\N,"line\nbreak","t","1.5","\\N"\n');
  });

  it("when a row does not have one value per column, then it throws", () => {
    expect(() => csvRows([["a"]], 2)).to.throw(/1 values for 2 columns/);
  });
});

describe("staging path from the settings", () => {
  const s3 = { CDC_S3_BUCKET: "atlas-dw-staging-1a2b3c" };

  it("when the warehouse is Redshift without the bucket or the COPY role, then the loader refuses to start, naming the setting", () => {
    expect(() => stageLoaderFromConfig(parseConfig({}), "redshift")).to.throw(/CDC_S3_BUCKET is required/);
    expect(() => stageLoaderFromConfig(parseConfig(s3), "redshift")).to.throw(/WAREHOUSE_IAM_ROLE_ARN is required/);
    expect(stageLoaderFromConfig(parseConfig({ ...s3, WAREHOUSE_IAM_ROLE_ARN: ROLE }), "redshift")).not.to.equal(copyStdinLoader);
  });

  it("when the warehouse is PostgreSQL, then a bucket means S3 staging and no bucket COPY FROM STDIN", () => {
    expect(stageLoaderFromConfig(parseConfig({}), "postgres")).to.equal(copyStdinLoader);
    expect(stageLoaderFromConfig(parseConfig({ ...s3, CDC_S3_ENDPOINT: "http://127.0.0.1:59000" }), "postgres")).not.to.equal(copyStdinLoader);
  });
});
