import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { StackConfig } from "../config";
import { StagingBucket } from "./staging-bucket";
import { loaderStagingPolicy, redshiftCopyPolicy } from "./staging-policies";

export interface WarehouseArgs {
  config: StackConfig["warehouse"];
  privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  securityGroupId: pulumi.Input<string>;
  kmsKeyArn: pulumi.Input<string>;
  /** Days a staged CDC batch object may stay in S3. Defaults to 1 (StagingBucket). */
  stagingExpireAfterDays?: number;
}

export const WAREHOUSE_DB_NAME = "atlas_warehouse";
export const WAREHOUSE_PORT = 5439;

/**
 * Redshift for analytics: private subnets, not publicly accessible, encrypted
 * with the stack key, TLS required (`require_ssl`), enhanced VPC routing so
 * COPY/UNLOAD traffic stays in the VPC. The login comes from the stack secret
 * `atlas:warehousePassword` for the same reason as the database's (README).
 *
 * The CDC loader loads it by COPY from the staging bucket (README, "Loading
 * the warehouse"): the bucket, and a role trusted by Redshift that may only
 * read the staging prefix, attached to the cluster for COPY's IAM_ROLE.
 */
export class Warehouse extends pulumi.ComponentResource {
  public readonly clusterIdentifier: pulumi.Output<string>;
  public readonly dnsName: pulumi.Output<string>;
  public readonly username: string;
  public readonly password: pulumi.Output<string>;
  public readonly stagingBucketName: pulumi.Output<string>;
  public readonly stagingPrefix: string;
  /** The role COPY names in IAM_ROLE (WAREHOUSE_IAM_ROLE_ARN). */
  public readonly copyRoleArn: pulumi.Output<string>;
  /** What the CDC loader's task role may do with the staging bucket (policy JSON). */
  public readonly loaderStagingPolicy: pulumi.Output<string>;

  constructor(name: string, args: WarehouseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas:warehouse:Warehouse", name, {}, opts);
    const cfg = args.config;

    const staging = new StagingBucket(`${name}-staging`, { kmsKeyArn: args.kmsKeyArn, expireAfterDays: args.stagingExpireAfterDays }, { parent: this });
    const scope = pulumi.all([staging.bucketArn, args.kmsKeyArn]).apply(([bucketArn, kmsKeyArn]) => ({ bucketArn, kmsKeyArn, prefix: staging.prefix }));
    const copyRole = new aws.iam.Role(`${name}-copy`, {
      description: "Atlas Redshift: COPY from the CDC staging bucket",
      assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({ Service: "redshift.amazonaws.com" }),
    }, { parent: this });
    new aws.iam.RolePolicy(`${name}-copy-read`, {
      role: copyRole.id,
      policy: scope.apply((s) => JSON.stringify(redshiftCopyPolicy(s))),
    }, { parent: this });

    const subnets = new aws.redshift.SubnetGroup(`${name}-subnets`, { subnetIds: args.privateSubnetIds, description: "Atlas Redshift, private subnets" }, { parent: this });
    const params = new aws.redshift.ParameterGroup(`${name}-params`, {
      family: "redshift-1.0",
      description: "Atlas: TLS only",
      parameters: [{ name: "require_ssl", value: "true" }],
    }, { parent: this });
    const cluster = new aws.redshift.Cluster(`${name}-redshift`, {
      clusterIdentifier: `${name}-${pulumi.getStack()}`,
      nodeType: cfg.nodeType,
      clusterType: cfg.nodeCount > 1 ? "multi-node" : "single-node",
      numberOfNodes: cfg.nodeCount,
      databaseName: WAREHOUSE_DB_NAME,
      port: WAREHOUSE_PORT,
      masterUsername: cfg.username,
      masterPassword: cfg.password,
      encrypted: "true",
      kmsKeyId: args.kmsKeyArn,
      publiclyAccessible: false,
      clusterSubnetGroupName: subnets.name,
      clusterParameterGroupName: params.name,
      vpcSecurityGroupIds: [args.securityGroupId],
      enhancedVpcRouting: true,
      iamRoles: [copyRole.arn],
      automatedSnapshotRetentionPeriod: cfg.snapshotRetentionDays,
      skipFinalSnapshot: cfg.skipFinalSnapshot,
      finalSnapshotIdentifier: cfg.skipFinalSnapshot ? undefined : `${name}-${pulumi.getStack()}-final`,
      preferredMaintenanceWindow: "sun:05:00-sun:06:00",
    }, { parent: this });

    this.clusterIdentifier = cluster.clusterIdentifier;
    this.dnsName = cluster.dnsName;
    this.username = cfg.username;
    this.password = cfg.password;
    this.stagingBucketName = staging.bucketName;
    this.stagingPrefix = staging.prefix;
    this.copyRoleArn = copyRole.arn;
    this.loaderStagingPolicy = scope.apply((s) => JSON.stringify(loaderStagingPolicy(s)));
    this.registerOutputs({ clusterIdentifier: this.clusterIdentifier, dnsName: this.dnsName, stagingBucketName: this.stagingBucketName, copyRoleArn: this.copyRoleArn });
  }
}
