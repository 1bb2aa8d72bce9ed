/**
 * Stack configuration, read once and checked up front.
 *
 * Everything that differs between dev and prod is data in Pulumi.<stack>.yaml;
 * the program never branches on the stack name. `readStackConfig` takes a
 * plain getter (Pulumi's Config cannot be mocked, pulumi/pulumi#16042), so the
 * tests feed it the yaml files' values and fake secrets.
 */
import * as pulumi from "@pulumi/pulumi";
import { SECRET_SETTINGS, SERVICE_NAMES, configSchema, type ServiceName, type SettingName } from "../app/shared/config";
import { settingValueProblem, type PlainSettingName } from "./services/container-settings";
import { fargateSizeProblem } from "./services/fargate-sizing";
import { ConfigReader, type ConfigSource } from "./config-source";

export { pulumiConfigSource, type ConfigSource } from "./config-source";

export interface ServiceSizing {
  /** Fargate CPU units (256 = 0.25 vCPU). */
  cpu: number;
  /** MiB; must fit `cpu` (see fargate-sizing.ts). */
  memory: number;
  /** Tasks at deploy; autoscaling moves between minCount and maxCount. */
  desiredCount: number;
  minCount: number;
  maxCount: number;
}

export interface StackConfig {
  project: string;
  stack: string;
  region: string;
  /** Common tags (from `aws:defaultTags.tags`) put on every taggable resource. */
  tags: Record<string, string>;
  network: { cidrBlock: string; natGateways: "Single" | "OnePerAz" };
  database: {
    engineVersion: string;
    instanceClass: string;
    allocatedStorageGb: number;
    maxAllocatedStorageGb: number;
    multiAz: boolean;
    deletionProtection: boolean;
    skipFinalSnapshot: boolean;
    backupRetentionDays: number;
    performanceInsightsRetentionDays: number;
    replicaCount: number;
    replicaInstanceClass: string;
    proxyEnabled: boolean;
    /** Cap on WAL a replication slot may retain (max_slot_wal_keep_size), MB. */
    maxSlotWalKeepSizeMb: number;
    username: string;
    password: pulumi.Output<string>;
  };
  cache: { nodeType: string; engineVersion: string; replicaCount: number; multiAz: boolean; authToken: pulumi.Output<string> };
  streaming: {
    kafkaVersion: string;
    instanceType: string;
    brokerCount: number;
    volumeGb: number;
    enhancedMonitoring: string;
    /** Local path (relative to the project root) of the Debezium + config-provider plugin zip. */
    debeziumPluginZip: string;
    connectMcuCount: number;
    /**
     * Whether the Debezium connector exists. A new stack starts with false: the
     * connector needs the publication the migrations create, so it is switched
     * on after the first migration run (infra/README.md, "Bootstrap a stack").
     */
    cdcConnectorEnabled: boolean;
  };
  warehouse: {
    nodeType: string;
    nodeCount: number;
    snapshotRetentionDays: number;
    skipFinalSnapshot: boolean;
    username: string;
    password: pulumi.Output<string>;
  };
  services: Record<ServiceName, ServiceSizing>;
  /** WEBHOOK_SECRET_KEY: seals the webhook signing secrets in PostgreSQL (app/webhooks/registry/secret-box.ts). */
  webhookSecretKey: pulumi.Output<string>;
  /** Non-secret app settings the stack overrides; the rest take the schema's defaults. */
  appSettings: Partial<Record<PlainSettingName, string>>;
  logRetentionDays: number;
  certificateArn?: string;
  alertEmail?: string;
}

export class StackConfigError extends Error {
  constructor(public readonly problems: string[], stack: string) {
    super(`stack "${stack}" configuration is invalid:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "StackConfigError";
  }
}

/** Settings whose value the program derives from the resources it creates; a stack may not set them. */
const DERIVED_SETTINGS: readonly SettingName[] = [
  ...SECRET_SETTINGS, "KAFKA_BROKERS", "KAFKA_SSL", "PORT", "CDC_S3_BUCKET", "CDC_S3_PREFIX", "CDC_S3_REGION", "WAREHOUSE_IAM_ROLE_ARN",
];

/** CloudWatch Logs accepts only these retention values (PutRetentionPolicy). */
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/** Reads and validates the whole stack config; throws one StackConfigError listing every problem. */
export function readStackConfig(source: ConfigSource, project: string, stack: string): StackConfig {
  const r = new ConfigReader(source, stack);

  const region = r.str("aws:region");
  const tags = r.json<{ tags?: Record<string, string> }>("aws:defaultTags", {}).tags ?? {};
  for (const t of ["Project", "Environment", "Owner", "ManagedBy"]) {
    if (!tags[t]) r.fail(`aws:defaultTags.tags.${t} is required (every resource carries it)`);
  }

  const database: StackConfig["database"] = {
    engineVersion: r.str("atlas:dbEngineVersion"),
    instanceClass: r.str("atlas:dbInstanceClass"),
    allocatedStorageGb: r.int("atlas:dbAllocatedStorageGb", 20, 65536),
    maxAllocatedStorageGb: r.int("atlas:dbMaxAllocatedStorageGb", 20, 65536),
    multiAz: r.bool("atlas:dbMultiAz"),
    deletionProtection: r.bool("atlas:dbDeletionProtection"),
    skipFinalSnapshot: r.bool("atlas:dbSkipFinalSnapshot"),
    // Read replicas and logical replication both need automated backups (retention >= 1).
    backupRetentionDays: r.int("atlas:dbBackupRetentionDays", 1, 35),
    performanceInsightsRetentionDays: r.int("atlas:dbPerformanceInsightsRetentionDays", 7, 731),
    replicaCount: r.int("atlas:dbReplicaCount", 0, 15),
    replicaInstanceClass: r.str("atlas:dbReplicaInstanceClass"),
    proxyEnabled: r.bool("atlas:dbProxyEnabled"),
    maxSlotWalKeepSizeMb: r.int("atlas:dbMaxSlotWalKeepSizeMb", 1024),
    username: r.str("atlas:dbUsername"),
    password: r.secret("atlas:dbPassword"),
  };
  if (database.maxAllocatedStorageGb < database.allocatedStorageGb) {
    r.fail(`atlas:dbMaxAllocatedStorageGb (${database.maxAllocatedStorageGb}) must be >= atlas:dbAllocatedStorageGb (${database.allocatedStorageGb})`);
  }
  // A stuck slot may hold at most this much WAL; keep it well under the disk or the primary fills up first.
  if (database.maxSlotWalKeepSizeMb > database.allocatedStorageGb * 1024 * 0.5) {
    r.fail(`atlas:dbMaxSlotWalKeepSizeMb (${database.maxSlotWalKeepSizeMb}) must be at most half of atlas:dbAllocatedStorageGb in MB (${database.allocatedStorageGb * 512})`);
  }

  const cache: StackConfig["cache"] = {
    nodeType: r.str("atlas:redisNodeType"),
    engineVersion: r.str("atlas:redisEngineVersion"),
    replicaCount: r.int("atlas:redisReplicaCount", 0, 5),
    multiAz: r.bool("atlas:redisMultiAz"),
    authToken: r.secret("atlas:redisAuthToken"),
  };
  if (cache.multiAz && cache.replicaCount < 1) r.fail("atlas:redisMultiAz needs atlas:redisReplicaCount >= 1 (failover needs a replica)");

  const streaming: StackConfig["streaming"] = {
    kafkaVersion: r.str("atlas:kafkaVersion"),
    instanceType: r.str("atlas:kafkaInstanceType"),
    brokerCount: r.int("atlas:kafkaBrokerCount", 3, 30),
    volumeGb: r.int("atlas:kafkaVolumeGb", 1, 16384),
    enhancedMonitoring: r.oneOf("atlas:kafkaEnhancedMonitoring", ["DEFAULT", "PER_BROKER", "PER_TOPIC_PER_BROKER", "PER_TOPIC_PER_PARTITION"]),
    debeziumPluginZip: r.str("atlas:debeziumPluginZip"),
    connectMcuCount: r.int("atlas:connectMcuCount", 1, 8),
    cdcConnectorEnabled: r.bool("atlas:cdcConnectorEnabled"),
  };
  // MSK spreads brokers evenly over the client subnets, one per AZ (3 AZs).
  if (streaming.brokerCount % 3 !== 0) r.fail(`atlas:kafkaBrokerCount must be a multiple of 3 (one per AZ), got ${streaming.brokerCount}`);

  const warehouse: StackConfig["warehouse"] = {
    nodeType: r.str("atlas:warehouseNodeType"),
    nodeCount: r.int("atlas:warehouseNodeCount", 1, 128),
    snapshotRetentionDays: r.int("atlas:warehouseSnapshotRetentionDays", 1, 35),
    skipFinalSnapshot: r.bool("atlas:warehouseSkipFinalSnapshot"),
    username: r.str("atlas:warehouseUsername"),
    password: r.secret("atlas:warehousePassword"),
  };

  const rawServices = r.json<Record<string, Partial<ServiceSizing>>>("atlas:services", {});
  const services = {} as Record<ServiceName, ServiceSizing>;
  for (const name of SERVICE_NAMES) {
    const s = rawServices[name];
    const key = `atlas:services.${name}`;
    if (!s) {
      r.fail(`${key} is required: {"cpu":256,"memory":512,"desiredCount":1,"minCount":1,"maxCount":2}`);
      services[name] = { cpu: 256, memory: 512, desiredCount: 1, minCount: 1, maxCount: 1 };
      continue;
    }
    const sizing = { cpu: Number(s.cpu), memory: Number(s.memory), desiredCount: Number(s.desiredCount), minCount: Number(s.minCount), maxCount: Number(s.maxCount) };
    const sizeProblem = fargateSizeProblem(sizing.cpu, sizing.memory);
    if (sizeProblem) r.fail(`${key}: ${sizeProblem}`);
    if (![sizing.minCount, sizing.desiredCount, sizing.maxCount].every(Number.isInteger) || !(0 <= sizing.minCount && sizing.minCount <= sizing.desiredCount && sizing.desiredCount <= sizing.maxCount)) {
      r.fail(`${key}: need integers with 0 <= minCount <= desiredCount <= maxCount`);
    }
    services[name] = sizing;
  }
  for (const extra of Object.keys(rawServices)) {
    if (!(SERVICE_NAMES as readonly string[]).includes(extra)) r.fail(`atlas:services.${extra} is not a service; services are ${SERVICE_NAMES.join(", ")}`);
  }
  // The CDC loader applies changes in order from one consumer; Debezium's connector runs one task.
  if (services["cdc-loader"].maxCount > 1) r.fail("atlas:services.cdc-loader.maxCount must be 1 (ordered apply, one consumer)");

  const rawSettings = r.json<Record<string, unknown>>("atlas:appSettings", {}, false);
  const appSettings: StackConfig["appSettings"] = {};
  for (const [name, value] of Object.entries(rawSettings)) {
    const key = `atlas:appSettings.${name}`;
    if (DERIVED_SETTINGS.includes(name as SettingName)) {
      r.fail(`${key} is set by the program from the resources it creates; remove it`);
      continue;
    }
    if (!(name in configSchema.shape)) {
      r.fail(`${key} is not a setting of app/shared/config.ts`);
      continue;
    }
    const problem = settingValueProblem(name as SettingName, String(value));
    if (problem) r.fail(`${key}: ${problem}`);
    else appSettings[name as PlainSettingName] = String(value);
  }

  const logRetentionDays = r.int("atlas:logRetentionDays", 1, 3653);
  if (!LOG_RETENTION_DAYS.includes(logRetentionDays)) r.fail(`atlas:logRetentionDays must be one of ${LOG_RETENTION_DAYS.join(", ")}`);

  const certificateArn = r.optional("atlas:certificateArn");
  if (certificateArn && !certificateArn.startsWith("arn:aws:acm:")) r.fail(`atlas:certificateArn must be an ACM certificate ARN, got "${certificateArn}"`);

  const network: StackConfig["network"] = {
    cidrBlock: r.str("atlas:vpcCidr"),
    natGateways: r.oneOf("atlas:natGateways", ["Single", "OnePerAz"] as const),
  };
  // awsx splits the VPC evenly over 3 AZs (/18 or /19 each) and carves a /20 private and a /24 public subnet in each.
  if (network.cidrBlock && !/^\d{1,3}(\.\d{1,3}){3}\/1[67]$/.test(network.cidrBlock)) {
    r.fail(`atlas:vpcCidr must be an IPv4 /16 or /17 (3 AZs × (/20 private + /24 public)), got "${network.cidrBlock}"`);
  }

  if (r.problems.length > 0) throw new StackConfigError(r.problems, stack);
  return {
    project,
    stack,
    region,
    tags,
    network,
    database,
    cache,
    streaming,
    warehouse,
    services,
    webhookSecretKey: r.secret("atlas:webhookSecretKey"),
    appSettings,
    logRetentionDays,
    certificateArn,
    alertEmail: r.optional("atlas:alertEmail"),
  };
}

