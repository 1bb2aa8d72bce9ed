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

/** What the program reads config through: `namespace:key` → raw string (structured values as JSON). */
export interface ConfigSource {
  get(key: string): string | undefined;
  /** The same value, marked secret. */
  getSecret(key: string): pulumi.Output<string> | undefined;
}

/** Reads the running stack's config (the program's only use of pulumi.Config). */
export function pulumiConfigSource(): ConfigSource {
  const split = (key: string): [pulumi.Config, string] => {
    const i = key.indexOf(":");
    return [new pulumi.Config(key.slice(0, i)), key.slice(i + 1)];
  };
  return {
    get: (key) => {
      const [cfg, name] = split(key);
      return cfg.get(name);
    },
    getSecret: (key) => {
      const [cfg, name] = split(key);
      return cfg.getSecret(name);
    },
  };
}

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
const DERIVED_SETTINGS: readonly SettingName[] = [...SECRET_SETTINGS, "KAFKA_BROKERS", "KAFKA_SSL", "PORT"];

/** CloudWatch Logs accepts only these retention values (PutRetentionPolicy). */
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/** Reads and validates the whole stack config; throws one StackConfigError listing every problem. */
export function readStackConfig(source: ConfigSource, project: string, stack: string): StackConfig {
  const problems: string[] = [];
  const setHint = (key: string, secret = false) =>
    `pulumi config set ${secret ? "--secret " : ""}${key} <value> --stack ${stack}`;

  const str = (key: string): string => {
    const v = source.get(key);
    if (v === undefined || v.trim() === "") {
      problems.push(`${key} is required: ${setHint(key)}`);
      return "";
    }
    return v.trim();
  };
  const optional = (key: string): string | undefined => {
    const v = source.get(key)?.trim();
    return v ? v : undefined;
  };
  const int = (key: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = str(key);
    if (raw === "") return min;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) problems.push(`${key} must be an integer in [${min}, ${max}], got "${raw}"`);
    return n;
  };
  const bool = (key: string): boolean => {
    const raw = str(key);
    if (raw !== "" && raw !== "true" && raw !== "false") problems.push(`${key} must be true or false, got "${raw}"`);
    return raw === "true";
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[]): T => {
    const raw = str(key);
    if (raw !== "" && !allowed.includes(raw as T)) problems.push(`${key} must be one of ${allowed.join(", ")}, got "${raw}"`);
    return raw as T;
  };
  const secret = (key: string): pulumi.Output<string> => {
    const v = source.getSecret(key);
    if (v === undefined) {
      problems.push(`${key} is required and must be a secret: ${setHint(key, true)}`);
      return pulumi.secret("");
    }
    return v;
  };
  const json = <T>(key: string, fallback: T, required = true): T => {
    const raw = required ? str(key) : optional(key);
    if (!raw) return fallback;
    try {
      return JSON.parse(raw) as T;
    } catch {
      problems.push(`${key} must be a YAML/JSON object, got "${raw}"`);
      return fallback;
    }
  };

  const region = str("aws:region");
  const tags = json<{ tags?: Record<string, string> }>("aws:defaultTags", {}).tags ?? {};
  for (const t of ["Project", "Environment", "Owner", "ManagedBy"]) {
    if (!tags[t]) problems.push(`aws:defaultTags.tags.${t} is required (every resource carries it)`);
  }

  const database: StackConfig["database"] = {
    engineVersion: str("atlas:dbEngineVersion"),
    instanceClass: str("atlas:dbInstanceClass"),
    allocatedStorageGb: int("atlas:dbAllocatedStorageGb", 20, 65536),
    maxAllocatedStorageGb: int("atlas:dbMaxAllocatedStorageGb", 20, 65536),
    multiAz: bool("atlas:dbMultiAz"),
    deletionProtection: bool("atlas:dbDeletionProtection"),
    skipFinalSnapshot: bool("atlas:dbSkipFinalSnapshot"),
    // Read replicas and logical replication both need automated backups (retention >= 1).
    backupRetentionDays: int("atlas:dbBackupRetentionDays", 1, 35),
    performanceInsightsRetentionDays: int("atlas:dbPerformanceInsightsRetentionDays", 7, 731),
    replicaCount: int("atlas:dbReplicaCount", 0, 15),
    replicaInstanceClass: str("atlas:dbReplicaInstanceClass"),
    proxyEnabled: bool("atlas:dbProxyEnabled"),
    maxSlotWalKeepSizeMb: int("atlas:dbMaxSlotWalKeepSizeMb", 1024),
    username: str("atlas:dbUsername"),
    password: secret("atlas:dbPassword"),
  };
  if (database.maxAllocatedStorageGb < database.allocatedStorageGb) {
    problems.push(`atlas:dbMaxAllocatedStorageGb (${database.maxAllocatedStorageGb}) must be >= atlas:dbAllocatedStorageGb (${database.allocatedStorageGb})`);
  }
  // A stuck slot may hold at most this much WAL; keep it well under the disk or the primary fills up first.
  if (database.maxSlotWalKeepSizeMb > database.allocatedStorageGb * 1024 * 0.5) {
    problems.push(`atlas:dbMaxSlotWalKeepSizeMb (${database.maxSlotWalKeepSizeMb}) must be at most half of atlas:dbAllocatedStorageGb in MB (${database.allocatedStorageGb * 512})`);
  }

  const cache: StackConfig["cache"] = {
    nodeType: str("atlas:redisNodeType"),
    engineVersion: str("atlas:redisEngineVersion"),
    replicaCount: int("atlas:redisReplicaCount", 0, 5),
    multiAz: bool("atlas:redisMultiAz"),
    authToken: secret("atlas:redisAuthToken"),
  };
  if (cache.multiAz && cache.replicaCount < 1) problems.push("atlas:redisMultiAz needs atlas:redisReplicaCount >= 1 (failover needs a replica)");

  const streaming: StackConfig["streaming"] = {
    kafkaVersion: str("atlas:kafkaVersion"),
    instanceType: str("atlas:kafkaInstanceType"),
    brokerCount: int("atlas:kafkaBrokerCount", 3, 30),
    volumeGb: int("atlas:kafkaVolumeGb", 1, 16384),
    enhancedMonitoring: oneOf("atlas:kafkaEnhancedMonitoring", ["DEFAULT", "PER_BROKER", "PER_TOPIC_PER_BROKER", "PER_TOPIC_PER_PARTITION"]),
    debeziumPluginZip: str("atlas:debeziumPluginZip"),
    connectMcuCount: int("atlas:connectMcuCount", 1, 8),
    cdcConnectorEnabled: bool("atlas:cdcConnectorEnabled"),
  };
  // MSK spreads brokers evenly over the client subnets, one per AZ (3 AZs).
  if (streaming.brokerCount % 3 !== 0) problems.push(`atlas:kafkaBrokerCount must be a multiple of 3 (one per AZ), got ${streaming.brokerCount}`);

  const warehouse: StackConfig["warehouse"] = {
    nodeType: str("atlas:warehouseNodeType"),
    nodeCount: int("atlas:warehouseNodeCount", 1, 128),
    snapshotRetentionDays: int("atlas:warehouseSnapshotRetentionDays", 1, 35),
    skipFinalSnapshot: bool("atlas:warehouseSkipFinalSnapshot"),
    username: str("atlas:warehouseUsername"),
    password: secret("atlas:warehousePassword"),
  };

  const rawServices = json<Record<string, Partial<ServiceSizing>>>("atlas:services", {});
  const services = {} as Record<ServiceName, ServiceSizing>;
  for (const name of SERVICE_NAMES) {
    const s = rawServices[name];
    const key = `atlas:services.${name}`;
    if (!s) {
      problems.push(`${key} is required: {"cpu":256,"memory":512,"desiredCount":1,"minCount":1,"maxCount":2}`);
      services[name] = { cpu: 256, memory: 512, desiredCount: 1, minCount: 1, maxCount: 1 };
      continue;
    }
    const sizing = { cpu: Number(s.cpu), memory: Number(s.memory), desiredCount: Number(s.desiredCount), minCount: Number(s.minCount), maxCount: Number(s.maxCount) };
    const sizeProblem = fargateSizeProblem(sizing.cpu, sizing.memory);
    if (sizeProblem) problems.push(`${key}: ${sizeProblem}`);
    if (![sizing.minCount, sizing.desiredCount, sizing.maxCount].every(Number.isInteger) || !(0 <= sizing.minCount && sizing.minCount <= sizing.desiredCount && sizing.desiredCount <= sizing.maxCount)) {
      problems.push(`${key}: need integers with 0 <= minCount <= desiredCount <= maxCount`);
    }
    services[name] = sizing;
  }
  for (const extra of Object.keys(rawServices)) {
    if (!(SERVICE_NAMES as readonly string[]).includes(extra)) problems.push(`atlas:services.${extra} is not a service; services are ${SERVICE_NAMES.join(", ")}`);
  }
  // The CDC loader applies changes in order from one consumer; Debezium's connector runs one task.
  if (services["cdc-loader"].maxCount > 1) problems.push("atlas:services.cdc-loader.maxCount must be 1 (ordered apply, one consumer)");

  const rawSettings = json<Record<string, unknown>>("atlas:appSettings", {}, false);
  const appSettings: StackConfig["appSettings"] = {};
  for (const [name, value] of Object.entries(rawSettings)) {
    const key = `atlas:appSettings.${name}`;
    if (DERIVED_SETTINGS.includes(name as SettingName)) {
      problems.push(`${key} is set by the program from the resources it creates; remove it`);
      continue;
    }
    if (!(name in configSchema.shape)) {
      problems.push(`${key} is not a setting of app/shared/config.ts`);
      continue;
    }
    const problem = settingValueProblem(name as SettingName, String(value));
    if (problem) problems.push(`${key}: ${problem}`);
    else appSettings[name as PlainSettingName] = String(value);
  }

  const logRetentionDays = int("atlas:logRetentionDays", 1, 3653);
  if (!LOG_RETENTION_DAYS.includes(logRetentionDays)) problems.push(`atlas:logRetentionDays must be one of ${LOG_RETENTION_DAYS.join(", ")}`);

  const certificateArn = optional("atlas:certificateArn");
  if (certificateArn && !certificateArn.startsWith("arn:aws:acm:")) problems.push(`atlas:certificateArn must be an ACM certificate ARN, got "${certificateArn}"`);

  const network: StackConfig["network"] = {
    cidrBlock: str("atlas:vpcCidr"),
    natGateways: oneOf("atlas:natGateways", ["Single", "OnePerAz"] as const),
  };
  if (network.cidrBlock && !/^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-2])$/.test(network.cidrBlock)) {
    problems.push(`atlas:vpcCidr must be an IPv4 CIDR from /16 to /22, got "${network.cidrBlock}"`);
  }

  if (problems.length > 0) throw new StackConfigError(problems, stack);
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
    appSettings,
    logRetentionDays,
    certificateArn,
    alertEmail: optional("atlas:alertEmail"),
  };
}

