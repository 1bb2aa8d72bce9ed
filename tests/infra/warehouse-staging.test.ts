/**
 * The CDC staging path of the warehouse under Pulumi mocks: the S3 bucket
 * (encryption, no public access, TLS only, expiry of staged objects), the role
 * Redshift assumes for COPY and what it may read, the cluster's iamRoles, and
 * what the loader's task role may do: least privilege, scoped to the prefix.
 */
import { expect } from "chai";
import { SERVICE_NAMES } from "../../app/shared/config";
import { STAGING_PREFIX } from "../../infra/warehouse/staging-bucket";
import { loaderStagingPolicy, redshiftCopyPolicy, type PolicyDocument } from "../../infra/warehouse/staging-policies";
import { containerOf, STACKS, stackRun, T, taskOf } from "./fixtures";
import { ofType, one, type ProgramRun, type RecordedResource } from "./harness";

const MOCK = "arn:aws:mock:us-east-1:123456789012";
const BUCKET_ID = "atlas-dw-staging-id";
const BUCKET_ARN = `${MOCK}:s3/bucket/atlas-dw-staging`;
const KEY_ARN = `${MOCK}:kms/key/atlas-key-kms`;
const COPY_ROLE_ARN = `${MOCK}:iam/role/atlas-dw-copy`;

const doc = (v: unknown): PolicyDocument => (typeof v === "string" ? JSON.parse(v) : v) as PolicyDocument;
const onBucket = (run: ProgramRun, type: string): RecordedResource => {
  const found = ofType(run, type).filter((r) => r.inputs.bucket === BUCKET_ID);
  expect(found, type).to.have.length(1);
  return found[0];
};
const actionsOf = (p: PolicyDocument) => p.Statement.flatMap((s) => s.Action);

describe("infra: staging policies (pure)", () => {
  const scope = { bucketArn: "arn:aws:s3:::b", prefix: "cdc-staging", kmsKeyArn: "arn:aws:kms:us-east-1:1:key/k" };

  it("Redshift's COPY role may list and get the staging prefix and decrypt this bucket's objects, nothing more", () => {
    const p = redshiftCopyPolicy(scope);
    expect(actionsOf(p)).to.have.members(["s3:GetObject", "s3:ListBucket", "kms:Decrypt"]);
    expect(p.Statement.find((s) => s.Action.includes("s3:GetObject"))!.Resource).to.deep.equal(["arn:aws:s3:::b/cdc-staging/*"]);
    expect(p.Statement.find((s) => s.Action.includes("s3:ListBucket"))!.Condition).to.deep.equal({ StringLike: { "s3:prefix": ["cdc-staging/*"] } });
    expect(p.Statement.find((s) => s.Action.includes("kms:Decrypt"))!.Condition).to.deep.equal({ StringEquals: { "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::b" } });
  });

  it("the loader may put and delete objects under the prefix (no get, no list) and make data keys for this bucket only", () => {
    const p = loaderStagingPolicy(scope);
    expect(actionsOf(p)).to.have.members(["s3:PutObject", "s3:DeleteObject", "kms:GenerateDataKey"]);
    expect(p.Statement[0].Resource).to.deep.equal(["arn:aws:s3:::b/cdc-staging/*"]);
    for (const s of p.Statement) expect(s.Resource).not.to.include("*");
  });
});

for (const stack of STACKS) {
  describe(`infra program, stack ${stack}: CDC staging for Redshift COPY`, function () {
    this.timeout(120_000);
    let run: ProgramRun;
    before(async () => {
      ({ run } = await stackRun(stack));
    });

    it("the staging bucket exists, encrypted by default with the stack key (SSE-KMS with bucket keys)", () => {
      expect(ofType(run, T.bucket).filter((b) => b.name === "atlas-dw-staging")).to.have.length(1);
      const rule = onBucket(run, T.bucketSse).inputs.rules[0];
      expect(rule.applyServerSideEncryptionByDefault).to.deep.equal({ sseAlgorithm: "aws:kms", kmsMasterKeyId: KEY_ARN });
      expect(rule.bucketKeyEnabled).to.equal(true);
    });

    it("the staging bucket blocks every kind of public access and refuses requests without TLS", () => {
      expect(onBucket(run, T.bucketPab).inputs).to.include({ blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
      const policy = doc(onBucket(run, T.bucketPolicy).inputs.policy);
      expect(policy.Statement).to.deep.include({
        Effect: "Deny", Principal: "*", Action: ["s3:*"], Resource: [BUCKET_ARN, `${BUCKET_ARN}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      });
      expect(policy.Statement.filter((s) => s.Effect === "Allow"), "the bucket policy grants nothing").to.have.length(0);
    });

    it("a lifecycle rule expires staged objects within 1–7 days (and aborts stray multipart uploads)", () => {
      const [rule, ...others] = onBucket(run, T.bucketLifecycle).inputs.rules;
      expect(others).to.have.length(0);
      expect(rule.status).to.equal("Enabled");
      expect(rule.filter).to.deep.equal({ prefix: `${STAGING_PREFIX}/` });
      expect(rule.expiration.days).to.be.within(1, 7);
      expect(rule.abortIncompleteMultipartUpload).to.deep.equal({ daysAfterInitiation: 1 });
    });

    it("the COPY role trusts only Redshift and may only read the staging prefix of the staging bucket", () => {
      const role = one(run, T.role, "atlas-dw-copy");
      const trust = doc(role.inputs.assumeRolePolicy) as unknown as { Statement: { Action: string; Principal: { Service: string } }[] };
      expect(trust.Statement.map((s) => s.Principal.Service)).to.deep.equal(["redshift.amazonaws.com"]);
      const policies = ofType(run, T.rolePolicy).filter((p) => p.inputs.role === role.id);
      expect(policies, "one inline policy").to.have.length(1);
      expect(doc(policies[0].inputs.policy)).to.deep.equal(redshiftCopyPolicy({ bucketArn: BUCKET_ARN, prefix: STAGING_PREFIX, kmsKeyArn: KEY_ARN }));
      expect(ofType(run, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").filter((a) => a.inputs.role === role.id || a.inputs.role === role.name),
        "no managed policies (e.g. AmazonS3ReadOnlyAccess)").to.have.length(0);
    });

    it("the cluster has the COPY role attached (COPY … IAM_ROLE names it)", () => {
      expect(one(run, T.redshift).inputs.iamRoles).to.deep.equal([COPY_ROLE_ARN]);
    });

    it("the loader's task role may put and delete staged objects and nothing else; no other task role holds a policy", () => {
      const taskRoleId = (service: string) => `atlas-${service}-task-id`;
      const loaderPolicies = ofType(run, T.rolePolicy).filter((p) => p.inputs.role === taskRoleId("cdc-loader"));
      expect(loaderPolicies).to.have.length(1);
      expect(doc(loaderPolicies[0].inputs.policy)).to.deep.equal(loaderStagingPolicy({ bucketArn: BUCKET_ARN, prefix: STAGING_PREFIX, kmsKeyArn: KEY_ARN }));
      for (const service of SERVICE_NAMES.filter((s) => s !== "cdc-loader")) {
        expect(ofType(run, T.rolePolicy).filter((p) => p.inputs.role === taskRoleId(service)), service).to.have.length(0);
      }
    });

    it("the loader's environment names the bucket, the prefix the policies use, the region and the COPY role", () => {
      const env = Object.fromEntries(containerOf(taskOf(run, "cdc-loader")).environment.map((e) => [e.name, e.value]));
      expect(env).to.include({ CDC_S3_BUCKET: BUCKET_ID, CDC_S3_PREFIX: STAGING_PREFIX, CDC_S3_REGION: "us-east-1", WAREHOUSE_IAM_ROLE_ARN: COPY_ROLE_ARN });
      expect(env, "local-only settings stay out of AWS").not.to.have.any.keys("CDC_S3_ENDPOINT", "CDC_S3_ACCESS_KEY_ID", "CDC_S3_SECRET_ACCESS_KEY");
    });
  });
}
