import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { debeziumConnectorProperties, workerProperties } from "./debezium-config";

export interface CdcConnectorArgs {
  region: string;
  /** Local path of the plugin zip (Debezium PostgreSQL connector + msk-config-providers). */
  pluginZipPath: string;
  mcuCount: number;
  bootstrapBrokersTls: pulumi.Input<string>;
  brokerCount: number;
  dbHost: pulumi.Input<string>;
  dbPort: number;
  dbName: string;
  dbUsername: string;
  credentialsSecretArn: pulumi.Input<string>;
  privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  securityGroupId: pulumi.Input<string>;
  kmsKeyArn: pulumi.Input<string>;
  logRetentionDays: number;
}

/**
 * Debezium on MSK Connect: reads the primary's logical replication slot and
 * writes change events to MSK. One worker, one task (a slot has one reader).
 * The database password reaches the worker through the Secrets Manager config
 * provider; the connector configuration only holds a reference to the secret.
 */
export class CdcConnector extends pulumi.ComponentResource {
  public readonly connectorArn: pulumi.Output<string>;

  constructor(name: string, args: CdcConnectorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas:streaming:CdcConnector", name, {}, opts);

    const bucket = new aws.s3.Bucket(`${name}-plugins`, { forceDestroy: true }, { parent: this });
    new aws.s3.BucketPublicAccessBlock(`${name}-plugins`, {
      bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
    }, { parent: this });
    new aws.s3.BucketServerSideEncryptionConfiguration(`${name}-plugins`, {
      bucket: bucket.id,
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.kmsKeyArn }, bucketKeyEnabled: true }],
    }, { parent: this });
    const pluginObject = new aws.s3.BucketObjectv2(`${name}-plugin-zip`, {
      bucket: bucket.id,
      key: "debezium-postgres.zip",
      source: new pulumi.asset.FileAsset(args.pluginZipPath),
    }, { parent: this });
    const plugin = new aws.mskconnect.CustomPlugin(`${name}-debezium`, {
      contentType: "ZIP",
      description: "Debezium PostgreSQL connector + AWS Secrets Manager config provider",
      location: { s3: { bucketArn: bucket.arn, fileKey: pluginObject.key } },
    }, { parent: this });
    const worker = new aws.mskconnect.WorkerConfiguration(`${name}-worker`, {
      propertiesFileContent: workerProperties(args.region),
      description: "JSON converters, secretsmanager config provider",
    }, { parent: this });

    const role = new aws.iam.Role(`${name}-role`, {
      assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({ Service: "kafkaconnect.amazonaws.com" }),
    }, { parent: this });
    new aws.iam.RolePolicy(`${name}-secret`, {
      role: role.id,
      policy: pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
          { Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: [args.credentialsSecretArn] },
          { Effect: "Allow", Action: ["kms:Decrypt"], Resource: [args.kmsKeyArn] },
        ],
      }),
    }, { parent: this });
    const logs = new aws.cloudwatch.LogGroup(`${name}-logs`, { retentionInDays: args.logRetentionDays }, { parent: this });

    const connector = new aws.mskconnect.Connector(`${name}-debezium`, {
      kafkaconnectVersion: "3.7.x",
      capacity: { provisionedCapacity: { mcuCount: args.mcuCount, workerCount: 1 } },
      connectorConfiguration: pulumi
        .all([args.dbHost, args.credentialsSecretArn])
        .apply(([dbHost, credentialsSecretArn]) =>
          debeziumConnectorProperties({ dbHost, dbPort: args.dbPort, dbName: args.dbName, dbUsername: args.dbUsername, credentialsSecretArn, replicationFactor: Math.min(3, args.brokerCount) })),
      kafkaCluster: { apacheKafkaCluster: { bootstrapServers: args.bootstrapBrokersTls, vpc: { securityGroups: [args.securityGroupId], subnets: args.privateSubnetIds } } },
      kafkaClusterClientAuthentication: { authenticationType: "NONE" },
      kafkaClusterEncryptionInTransit: { encryptionType: "TLS" },
      plugins: [{ customPlugin: { arn: plugin.arn, revision: plugin.latestRevision } }],
      workerConfiguration: { arn: worker.arn, revision: worker.latestRevision },
      serviceExecutionRoleArn: role.arn,
      logDelivery: { workerLogDelivery: { cloudwatchLogs: { enabled: true, logGroup: logs.name } } },
    }, { parent: this });

    this.connectorArn = connector.arn;
    this.registerOutputs({ connectorArn: this.connectorArn });
  }
}
