import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { StackConfig } from "../config";
import { DB_PARAMETER_GROUP_FAMILY, dbParameters } from "./parameters";
import { DatabaseProxy } from "./proxy";

export interface DatabaseArgs {
  config: StackConfig["database"];
  privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  securityGroupId: pulumi.Input<string>;
  proxySecurityGroupId: pulumi.Input<string>;
  kmsKeyArn: pulumi.Input<string>;
}

export const DB_NAME = "atlas";
export const DB_PORT = 5432;

/**
 * PostgreSQL 15 primary, its read replicas and (when configured) an RDS Proxy.
 *
 * Credentials: the login lives in one Secrets Manager secret (JSON
 * `username`/`password`, from the stack secret `atlas:dbPassword`). RDS Proxy
 * and Debezium read it from there; the services get it inside DATABASE_URL,
 * itself a Secrets Manager secret (services/service-secrets.ts). We do not use
 * `manageMasterUserPassword`: RDS rotates that password on its own schedule
 * and the URL the services read would go stale (see infra/README.md).
 */
export class Database extends pulumi.ComponentResource {
  public readonly primaryIdentifier: pulumi.Output<string>;
  public readonly primaryAddress: pulumi.Output<string>;
  public readonly replicaIdentifiers: pulumi.Output<string>[];
  public readonly replicaAddresses: pulumi.Output<string>[];
  /** Where services send writes and strong reads: the proxy when there is one, else the primary. */
  public readonly serviceEndpoint: pulumi.Output<string>;
  public readonly credentialsSecretArn: pulumi.Output<string>;
  public readonly username: string;
  public readonly password: pulumi.Output<string>;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas:database:Database", name, {}, opts);
    const cfg = args.config;
    if (cfg.backupRetentionDays < 1) throw new Error("Database: backupRetentionDays must be >= 1; read replicas and logical replication need automated backups.");

    const subnetGroup = new aws.rds.SubnetGroup(`${name}-subnets`, { subnetIds: args.privateSubnetIds, description: "Atlas PostgreSQL, private subnets" }, { parent: this });
    const parameterGroup = new aws.rds.ParameterGroup(`${name}-params`, {
      family: DB_PARAMETER_GROUP_FAMILY,
      // The description still names pg_cron, which is no longer preloaded:
      // changing a parameter group's description replaces the group (a reboot).
      description: "Atlas: logical replication for Debezium, pg_cron for pg_partman, TLS only",
      parameters: dbParameters({ maxSlotWalKeepSizeMb: cfg.maxSlotWalKeepSizeMb }),
    }, { parent: this });

    const credentials = new aws.secretsmanager.Secret(`${name}-credentials`, {
      description: "Atlas PostgreSQL login (RDS Proxy and Debezium read it)",
      kmsKeyId: args.kmsKeyArn,
      recoveryWindowInDays: 7,
    }, { parent: this });
    new aws.secretsmanager.SecretVersion(`${name}-credentials`, {
      secretId: credentials.id,
      secretString: pulumi.secret(pulumi.jsonStringify({ username: cfg.username, password: cfg.password })),
    }, { parent: this });

    const monitoringRole = new aws.iam.Role(`${name}-monitoring`, {
      assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({ Service: "monitoring.rds.amazonaws.com" }),
    }, { parent: this });
    new aws.iam.RolePolicyAttachment(`${name}-monitoring`, {
      role: monitoringRole.name,
      policyArn: "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
    }, { parent: this });

    const common = {
      parameterGroupName: parameterGroup.name,
      vpcSecurityGroupIds: [args.securityGroupId],
      publiclyAccessible: false,
      storageEncrypted: true,
      kmsKeyId: args.kmsKeyArn,
      performanceInsightsEnabled: true,
      performanceInsightsKmsKeyId: args.kmsKeyArn,
      performanceInsightsRetentionPeriod: cfg.performanceInsightsRetentionDays,
      monitoringInterval: 60,
      monitoringRoleArn: monitoringRole.arn,
      autoMinorVersionUpgrade: true,
      caCertIdentifier: "rds-ca-rsa2048-g1",
      copyTagsToSnapshot: true,
      enabledCloudwatchLogsExports: ["postgresql", "upgrade"],
    };

    const primary = new aws.rds.Instance(`${name}-primary`, {
      ...common,
      engine: "postgres",
      engineVersion: cfg.engineVersion,
      instanceClass: cfg.instanceClass,
      allocatedStorage: cfg.allocatedStorageGb,
      maxAllocatedStorage: cfg.maxAllocatedStorageGb,
      storageType: "gp3",
      dbName: DB_NAME,
      port: DB_PORT,
      username: cfg.username,
      password: cfg.password,
      dbSubnetGroupName: subnetGroup.name,
      multiAz: cfg.multiAz,
      deletionProtection: cfg.deletionProtection,
      backupRetentionPeriod: cfg.backupRetentionDays,
      backupWindow: "03:00-04:00",
      maintenanceWindow: "sun:04:30-sun:05:30",
      skipFinalSnapshot: cfg.skipFinalSnapshot,
      finalSnapshotIdentifier: cfg.skipFinalSnapshot ? undefined : `${name}-${pulumi.getStack()}-final`,
    }, { parent: this });

    const replicas = Array.from({ length: cfg.replicaCount }, (_, i) =>
      new aws.rds.Instance(`${name}-replica-${i + 1}`, {
        ...common,
        replicateSourceDb: primary.identifier,
        instanceClass: cfg.replicaInstanceClass,
        storageType: "gp3",
        multiAz: false,
        deletionProtection: cfg.deletionProtection,
        skipFinalSnapshot: true, // a replica's data is the primary's
        backupRetentionPeriod: 0,
      }, { parent: this }));

    this.primaryIdentifier = primary.identifier;
    this.primaryAddress = primary.address;
    this.replicaIdentifiers = replicas.map((r) => r.identifier);
    this.replicaAddresses = replicas.map((r) => r.address);
    this.credentialsSecretArn = credentials.arn;
    this.username = cfg.username;
    this.password = cfg.password;

    if (cfg.proxyEnabled) {
      const proxy = new DatabaseProxy(`${name}-proxy`, {
        primaryIdentifier: primary.identifier,
        credentialsSecretArn: credentials.arn,
        kmsKeyArn: args.kmsKeyArn,
        subnetIds: args.privateSubnetIds,
        securityGroupId: args.proxySecurityGroupId,
      }, { parent: this });
      this.serviceEndpoint = proxy.endpoint;
    } else {
      this.serviceEndpoint = primary.address;
    }

    this.registerOutputs({
      primaryIdentifier: this.primaryIdentifier,
      primaryAddress: this.primaryAddress,
      serviceEndpoint: this.serviceEndpoint,
      credentialsSecretArn: this.credentialsSecretArn,
    });
  }
}
