/**
 * Atlas Telemetry on AWS: read the stack config once, wire the components,
 * export what an SRE needs. Pulumi calls the exported function; the tests call
 * it with their own ConfigSource (Pulumi's Config cannot be mocked).
 */
import * as pulumi from "@pulumi/pulumi";
import { SERVICE_NAMES, type ServiceName } from "../app/shared/config";
import { pulumiConfigSource, readStackConfig, type ConfigSource } from "./config";
import { applyCommonTags } from "./tags";
import { DataKey } from "./encryption/data-key";
import { Network } from "./network/network";
import { SecurityGroups } from "./network/security-groups";
import { Database, DB_NAME, DB_PORT } from "./database/database";
import { Cache, REDIS_PORT } from "./cache/cache";
import { Kafka } from "./streaming/kafka";
import { CdcConnector } from "./streaming/cdc-connector";
import { Warehouse, WAREHOUSE_DB_NAME, WAREHOUSE_PORT } from "./warehouse/warehouse";
import { ServiceSecrets } from "./services/service-secrets";
import { Compute } from "./services/compute";
import { LoadBalancer } from "./services/load-balancer";
import { FargateService } from "./services/fargate-service";
import { containerSettings, plainSettingValues, secretSettingsOf } from "./services/container-settings";
import { CONTAINER_PORT, HTTP_SERVICES, type HttpServiceName } from "./services/entrypoints";
import { Monitoring } from "./monitoring/monitoring";
import { alarmSpecs } from "./monitoring/thresholds";

export = async function atlas(source: ConfigSource = pulumiConfigSource(), stack: string = pulumi.getStack()) {
  const cfg = readStackConfig(source, pulumi.getProject(), stack);
  applyCommonTags(cfg.tags);

  const key = new DataKey("atlas-key");
  const network = new Network("atlas-net", cfg.network);
  const sg = new SecurityGroups("atlas-sg", { vpcId: network.vpcId, proxyEnabled: cfg.database.proxyEnabled });
  const data = { privateSubnetIds: network.privateSubnetIds, kmsKeyArn: key.arn };

  const database = new Database("atlas-db", { ...data, config: cfg.database, securityGroupId: sg.database.id, proxySecurityGroupId: sg.proxy.id });
  const cache = new Cache("atlas-cache", { ...data, config: cfg.cache, securityGroupId: sg.redis.id });
  const kafka = new Kafka("atlas-kafka", { ...data, config: cfg.streaming, securityGroupId: sg.kafka.id, logRetentionDays: cfg.logRetentionDays });
  const warehouse = new Warehouse("atlas-dw", { ...data, config: cfg.warehouse, securityGroupId: sg.warehouse.id });
  if (cfg.streaming.cdcConnectorEnabled) new CdcConnector("atlas-cdc", {
    ...data,
    region: cfg.region,
    pluginZipPath: cfg.streaming.debeziumPluginZip,
    mcuCount: cfg.streaming.connectMcuCount,
    bootstrapBrokersTls: kafka.bootstrapBrokersTls,
    brokerCount: cfg.streaming.brokerCount,
    dbHost: database.primaryAddress,
    dbPort: DB_PORT,
    dbName: DB_NAME,
    dbUsername: database.username,
    credentialsSecretArn: database.credentialsSecretArn,
    securityGroupId: sg.connect.id,
    logRetentionDays: cfg.logRetentionDays,
  });

  const secrets = new ServiceSecrets("atlas-secrets", {
    kmsKeyArn: key.arn,
    webhookSecretKey: cfg.webhookSecretKey,
    db: { host: database.serviceEndpoint, port: DB_PORT, name: DB_NAME, username: database.username, password: database.password, replicaHosts: database.replicaAddresses },
    redis: { host: cache.primaryEndpoint, port: REDIS_PORT, authToken: cache.authToken },
    warehouse: { host: warehouse.dnsName, port: WAREHOUSE_PORT, name: WAREHOUSE_DB_NAME, username: warehouse.username, password: warehouse.password },
  });
  const plain = plainSettingValues(cfg.appSettings, {
    KAFKA_BROKERS: kafka.bootstrapBrokersTls, KAFKA_SSL: "true", PORT: String(CONTAINER_PORT),
    CDC_S3_BUCKET: warehouse.stagingBucketName, CDC_S3_PREFIX: warehouse.stagingPrefix, CDC_S3_REGION: cfg.region, WAREHOUSE_IAM_ROLE_ARN: warehouse.copyRoleArn,
  });

  const compute = new Compute("atlas-compute");
  const lb = new LoadBalancer("atlas-lb", { vpcId: network.vpcId, publicSubnetIds: network.publicSubnetIds, securityGroupId: sg.alb.id, certificateArn: cfg.certificateArn });
  const services = Object.fromEntries(SERVICE_NAMES.map((service) => [service, new FargateService(`atlas-${service}`, {
    service,
    sizing: cfg.services[service],
    imageUri: compute.imageUri,
    clusterArn: compute.clusterArn,
    clusterName: compute.clusterName,
    subnetIds: network.privateSubnetIds,
    securityGroupId: sg.services[service].id,
    settings: containerSettings(service, plain, secrets.arns),
    secretArns: secretSettingsOf(service).map((s) => secrets.arns[s]),
    kmsKeyArn: key.arn,
    region: cfg.region,
    logRetentionDays: cfg.logRetentionDays,
    targetGroupArn: (HTTP_SERVICES as readonly string[]).includes(service) ? lb.targetGroups[service as HttpServiceName].arn : undefined,
    taskRolePolicy: service === "cdc-loader" ? warehouse.loaderStagingPolicy : undefined,
  }, { dependsOn: [lb] })])) as Record<ServiceName, FargateService>; // ECS refuses a target group no listener uses yet

  const monitoring = new Monitoring("atlas-mon", {
    specs: alarmSpecs({
      replicaCount: cfg.database.replicaCount,
      allocatedStorageGb: cfg.database.allocatedStorageGb,
      maxSlotWalKeepSizeMb: cfg.database.maxSlotWalKeepSizeMb,
      redisNodeCount: 1 + cfg.cache.replicaCount,
    }),
    region: cfg.region,
    alertEmail: cfg.alertEmail,
    dbPrimaryIdentifier: database.primaryIdentifier,
    dbReplicaIdentifiers: database.replicaIdentifiers,
    redisReplicationGroupId: cache.replicationGroupId,
    redisNodeCount: 1 + cfg.cache.replicaCount,
    kafkaClusterName: kafka.clusterName,
    albArnSuffix: lb.arnSuffix,
    targetGroupArnSuffixes: { "ingest-api": lb.targetGroups["ingest-api"].arnSuffix, "query-api": lb.targetGroups["query-api"].arnSuffix },
    ecsClusterName: compute.clusterName,
    ecsServiceNames: Object.fromEntries(SERVICE_NAMES.map((s) => [s, services[s].serviceName])) as Record<ServiceName, pulumi.Output<string>>,
    logGroupNames: Object.fromEntries(SERVICE_NAMES.map((s) => [s, services[s].logGroupName])) as Record<ServiceName, pulumi.Output<string>>,
  });

  return {
    albUrl: lb.url,
    dashboardUrl: monitoring.dashboardUrl,
    alarmTopicArn: monitoring.topicArn,
    databaseEndpoint: database.primaryAddress,
    databaseServiceEndpoint: database.serviceEndpoint,
    databaseReplicaEndpoints: pulumi.all(database.replicaAddresses),
    databaseCredentialsSecretArn: database.credentialsSecretArn,
    redisEndpoint: cache.primaryEndpoint,
    kafkaBootstrapBrokers: kafka.bootstrapBrokersTls,
    warehouseEndpoint: warehouse.dnsName,
    imageUri: compute.imageUri,
    ecsClusterName: compute.clusterName,
    vpcId: network.vpcId,
    // For one-off tasks (migrations): `aws ecs run-task` needs the subnets and a security group.
    privateSubnetIds: network.privateSubnetIds,
    batchWriterSecurityGroupId: sg.services["batch-writer"].id,
    batchWriterTaskDefinitionArn: services["batch-writer"].taskDefinitionArn,
  };
};
