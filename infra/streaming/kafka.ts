import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { StackConfig } from "../config";

export interface KafkaArgs {
  config: StackConfig["streaming"];
  privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  securityGroupId: pulumi.Input<string>;
  kmsKeyArn: pulumi.Input<string>;
  logRetentionDays: number;
}

/**
 * Topic defaults (seed 001 Part C "MSK configuration"): no auto-created topics
 * (the ingest API and Debezium create theirs with explicit settings), three
 * replicas with two in sync, so an acks=all write survives one broker loss.
 */
export const KAFKA_SERVER_PROPERTIES = [
  "auto.create.topics.enable=false",
  "default.replication.factor=3",
  "min.insync.replicas=2",
  "num.partitions=12",
  "compression.type=lz4",
  "log.retention.hours=168",
  "unclean.leader.election.enable=false",
].join("\n");

/** MSK: brokers in the private subnets, TLS only between clients and brokers and inside the cluster, encrypted at rest. */
export class Kafka extends pulumi.ComponentResource {
  public readonly clusterName: pulumi.Output<string>;
  public readonly clusterArn: pulumi.Output<string>;
  /** Comma-separated host:9094 list (the KAFKA_BROKERS setting). */
  public readonly bootstrapBrokersTls: pulumi.Output<string>;

  constructor(name: string, args: KafkaArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas:streaming:Kafka", name, {}, opts);
    const cfg = args.config;
    if (cfg.brokerCount % 3 !== 0) throw new Error("Kafka: brokerCount must be a multiple of 3 (one broker per AZ).");

    const configuration = new aws.msk.Configuration(`${name}-config`, {
      kafkaVersions: [cfg.kafkaVersion],
      serverProperties: KAFKA_SERVER_PROPERTIES,
      description: "Atlas broker defaults",
    }, { parent: this });
    const logs = new aws.cloudwatch.LogGroup(`${name}-broker-logs`, { retentionInDays: args.logRetentionDays }, { parent: this });

    const cluster = new aws.msk.Cluster(`${name}-msk`, {
      kafkaVersion: cfg.kafkaVersion,
      numberOfBrokerNodes: cfg.brokerCount,
      brokerNodeGroupInfo: {
        instanceType: cfg.instanceType,
        clientSubnets: args.privateSubnetIds,
        securityGroups: [args.securityGroupId],
        storageInfo: { ebsStorageInfo: { volumeSize: cfg.volumeGb } },
        connectivityInfo: { publicAccess: { type: "DISABLED" } },
      },
      // Unauthenticated TLS: the security group is the access control (only the services and Debezium reach 9094).
      clientAuthentication: { unauthenticated: true },
      encryptionInfo: {
        encryptionAtRestKmsKeyArn: args.kmsKeyArn,
        encryptionInTransit: { clientBroker: "TLS", inCluster: true },
      },
      configurationInfo: { arn: configuration.arn, revision: configuration.latestRevision },
      enhancedMonitoring: cfg.enhancedMonitoring,
      loggingInfo: { brokerLogs: { cloudwatchLogs: { enabled: true, logGroup: logs.name } } },
    }, { parent: this });

    this.clusterName = cluster.clusterName;
    this.clusterArn = cluster.arn;
    this.bootstrapBrokersTls = cluster.bootstrapBrokersTls;
    this.registerOutputs({ clusterName: this.clusterName, clusterArn: this.clusterArn, bootstrapBrokersTls: this.bootstrapBrokersTls });
  }
}
