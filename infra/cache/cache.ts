import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { StackConfig } from "../config";

export interface CacheArgs {
  config: StackConfig["cache"];
  privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  securityGroupId: pulumi.Input<string>;
  kmsKeyArn: pulumi.Input<string>;
}

export const REDIS_PORT = 6379;

/**
 * ElastiCache Redis for the query cache: cluster mode off (the services use
 * one `rediss://` URL), TLS in transit, encrypted at rest, AUTH token from the
 * stack secret `atlas:redisAuthToken`. With replicas and multiAz (prod) a
 * primary failure promotes a replica in the other AZ.
 *
 * maxmemory-policy stays at ElastiCache's default, volatile-lru: only keys
 * with a TTL (cached entities) are evicted, never the version keys the cache
 * uses to refuse stale entries.
 */
export class Cache extends pulumi.ComponentResource {
  public readonly replicationGroupId: pulumi.Output<string>;
  public readonly primaryEndpoint: pulumi.Output<string>;
  public readonly authToken: pulumi.Output<string>;

  constructor(name: string, args: CacheArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas:cache:Cache", name, {}, opts);
    const cfg = args.config;
    if (cfg.multiAz && cfg.replicaCount < 1) throw new Error("Cache: multiAz needs replicaCount >= 1; set atlas:redisReplicaCount.");

    const subnets = new aws.elasticache.SubnetGroup(`${name}-subnets`, { subnetIds: args.privateSubnetIds, description: "Atlas Redis, private subnets" }, { parent: this });
    const group = new aws.elasticache.ReplicationGroup(`${name}-redis`, {
      description: "Atlas query cache (latest entity values)",
      engine: "redis",
      engineVersion: cfg.engineVersion,
      nodeType: cfg.nodeType,
      port: REDIS_PORT,
      numCacheClusters: 1 + cfg.replicaCount,
      automaticFailoverEnabled: cfg.replicaCount > 0,
      multiAzEnabled: cfg.multiAz,
      atRestEncryptionEnabled: true,
      kmsKeyId: args.kmsKeyArn,
      transitEncryptionEnabled: true,
      authToken: cfg.authToken,
      authTokenUpdateStrategy: "ROTATE",
      subnetGroupName: subnets.name,
      securityGroupIds: [args.securityGroupId],
      snapshotRetentionLimit: 1,
      snapshotWindow: "03:00-04:00",
      maintenanceWindow: "sun:05:00-sun:06:00",
      autoMinorVersionUpgrade: true,
    }, { parent: this });

    this.replicationGroupId = group.id;
    this.primaryEndpoint = group.primaryEndpointAddress;
    this.authToken = cfg.authToken;
    this.registerOutputs({ replicationGroupId: this.replicationGroupId, primaryEndpoint: this.primaryEndpoint });
  }
}
