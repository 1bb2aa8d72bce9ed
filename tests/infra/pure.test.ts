/**
 * The infra's pure logic, without Pulumi mocks: config validation, container
 * settings, Fargate sizes, alarm thresholds, database parameters, URLs.
 */
import { expect } from "chai";
import { parseConfig, SECRET_SETTINGS, SERVICE_NAMES, SERVICE_SETTINGS, type ServiceName } from "../../app/shared/config";
import { readStackConfig, StackConfigError } from "../../infra/config";
import {
  containerSettings,
  plainSettingValues,
  schemaDefault,
  secretSettingsOf,
  servicesUsing,
  type PlainSettingValues,
  type SecretSettingRefs,
} from "../../infra/services/container-settings";
import { fargateMemoryOptions, fargateSizeProblem } from "../../infra/services/fargate-sizing";
import { alarmSpecs, THRESHOLDS } from "../../infra/monitoring/thresholds";
import { dbParameters } from "../../infra/database/parameters";
import { dashboardBody } from "../../infra/monitoring/dashboard-body";
import { serviceUrls } from "../../infra/services/service-urls";
import { debeziumConnectorProperties, workerProperties } from "../../infra/streaming/debezium-config";
import * as fs from "fs";
import { CDC_LOADER_GROUP_ID, CONSUMER_GROUPS } from "../../infra/services/entrypoints";
import { DEFAULT_GROUP_ID } from "../../app/cdc/loader/loader";
import { WRITER_GROUP_ID } from "../../app/ingest/types";
import * as path from "path";
import { configSource, FAKE_SECRETS, loadStackConfig, REPO_ROOT } from "./harness";

const staging = { CDC_S3_BUCKET: "atlas-staging", CDC_S3_PREFIX: "cdc-staging", CDC_S3_REGION: "us-east-1", WAREHOUSE_IAM_ROLE_ARN: "arn:aws:iam::123456789012:role/copy" };
const plain = plainSettingValues({}, { KAFKA_BROKERS: "b-1:9094", KAFKA_SSL: "true", PORT: "8080", ...staging }) as Record<string, string>;
const refs = Object.fromEntries(SECRET_SETTINGS.map((s) => [s, `arn:secret:${s}`])) as SecretSettingRefs;

describe("infra: container settings from app/shared/config", () => {
  for (const service of SERVICE_NAMES) {
    it(`${service}: environment ∪ secrets is exactly SERVICE_SETTINGS["${service}"]`, () => {
      const { environment, secrets } = containerSettings(service, plain as PlainSettingValues, refs);
      const names = [...environment.map((e) => e.name), ...secrets.map((s) => s.name)];
      expect(names).to.have.members([...SERVICE_SETTINGS[service]]);
      expect(names).to.have.lengthOf(new Set(names).size);
    });
    it(`${service}: no secret setting is a plain environment value`, () => {
      const { environment, secrets } = containerSettings(service, plain as PlainSettingValues, refs);
      for (const e of environment) expect(SECRET_SETTINGS as readonly string[]).not.to.include(e.name);
      for (const s of secrets) expect(s.valueFrom).to.equal(`arn:secret:${s.name}`);
    });
  }

  it("secretSettingsOf lists only the secret settings the service reads", () => {
    expect(secretSettingsOf("ingest-api")).to.deep.equal(SERVICE_SETTINGS["ingest-api"].filter((s) => (SECRET_SETTINGS as readonly string[]).includes(s)));
  });

  it("servicesUsing(REDIS_URL) is the services that list it", () => {
    const expected = (Object.keys(SERVICE_SETTINGS) as ServiceName[]).filter((s) => SERVICE_SETTINGS[s].includes("REDIS_URL"));
    expect(servicesUsing("REDIS_URL")).to.deep.equal(expected);
  });

  it("plain values fall back to the schema defaults, so infra and services agree", () => {
    expect(plain.LOG_LEVEL).to.equal(schemaDefault("LOG_LEVEL"));
    expect(plain.CACHE_TTL_SECONDS).to.equal("60");
    expect(plainSettingValues({ LOG_LEVEL: "warn" }, { KAFKA_BROKERS: "b:9094", KAFKA_SSL: "true", PORT: "8080", ...staging }).LOG_LEVEL).to.equal("warn");
  });
});

describe("infra: Fargate sizes (AWS task size table)", () => {
  it("accepts every documented combination at the edges", () => {
    for (const [cpu, memory] of [[256, 512], [256, 2048], [512, 4096], [1024, 2048], [2048, 16384], [4096, 30720], [8192, 61440], [16384, 122880]]) {
      expect(fargateSizeProblem(cpu, memory), `${cpu}/${memory}`).to.equal(undefined);
    }
  });
  it("when memory does not fit the cpu, then the message lists what does", () => {
    expect(fargateSizeProblem(256, 4096)).to.match(/use 512, 1024, 2048/);
    expect(fargateSizeProblem(1024, 1024)).to.equal("memory 1024 MiB does not fit cpu 1024; use 2048, 3072, 4096, 5120, 6144, 7168, 8192");
    expect(fargateSizeProblem(4096, 4096)).to.match(/use 8192\.\.30720 in steps of 1024/);
  });
  it("when cpu is not a Fargate size, then it is refused", () => {
    expect(fargateSizeProblem(300, 1024)).to.match(/not a Fargate size/);
  });
  it("every memory option of every cpu is accepted (table is self-consistent)", () => {
    for (const cpu of [256, 512, 1024, 2048, 4096, 8192, 16384]) {
      for (const m of fargateMemoryOptions(cpu)) expect(fargateSizeProblem(cpu, m)).to.equal(undefined);
    }
  });
});

describe("infra: alarm thresholds follow the seeds", () => {
  const specs = alarmSpecs({ replicaCount: 2, allocatedStorageGb: 1000, maxSlotWalKeepSizeMb: 102400, redisNodeCount: 2 });
  const byKey = (key: string) => {
    const s = specs.find((x) => x.key === key);
    if (!s) throw new Error(`no alarm ${key}`);
    return s;
  };

  it("replica lag > 5 s over 2 × 60 s per replica, and > 10 s critical (seed 001 Part C §4, Part B Alarms 1-2)", () => {
    for (const r of [1, 2]) {
      expect(byKey(`rds-replica-lag-replica-${r}`)).to.include({ metricName: "ReplicaLag", threshold: 5, period: 60, evaluationPeriods: 2 });
      expect(byKey(`rds-replica-lag-critical-replica-${r}`)).to.include({ threshold: 10, evaluationPeriods: 1 });
    }
  });
  it("RDS CPU > 80 % over 2 × 300 s (seed 001 Part C §4)", () => {
    expect(byKey("rds-cpu-primary")).to.include({ metricName: "CPUUtilization", threshold: 80, period: 300, evaluationPeriods: 2 });
  });
  it("free storage alarm fires below 25 % of allocated (seed 001 disk usage > 75 %)", () => {
    expect(byKey("rds-free-storage-primary")).to.include({ comparison: "LessThanThreshold", threshold: 250 * 1024 ** 3 });
  });
  it("replication slot lag alarm fires at half of max_slot_wal_keep_size", () => {
    expect(byKey("rds-replication-slot-lag")).to.include({ metricName: "OldestReplicationSlotLag", threshold: 51200 * 1024 * 1024 });
  });
  it("Redis engine CPU > 75 % per node (seed 001 Part C §4)", () => {
    expect(byKey("redis-cpu-node-1")).to.include({ metricName: "EngineCPUUtilization", threshold: 75 });
    expect(byKey("redis-cpu-node-2")).to.include({ threshold: 75 });
  });
  it("consumer lag > 50K over 3 × 300 s and > 100K critical per group and topic (seed 001 Part C §4, §2 table)", () => {
    const lag = specs.filter((s) => s.metricName === "SumOffsetLag");
    expect(lag.filter((s) => s.threshold === 50_000 && s.evaluationPeriods === 3)).to.have.length.greaterThan(0);
    expect(lag.filter((s) => s.threshold === 100_000)).to.have.length(lag.length / 2);
    expect(lag.some((s) => s.target.kind === "kafka" && s.target.group === "atlas-batch-writer" && s.target.topic === "atlas.telemetry.live")).to.equal(true);
  });
  it("ALB 5xx rate and p99 latency per API have alarms", () => {
    expect(byKey("alb-5xx-rate").threshold).to.equal(THRESHOLDS.alb5xxPercent);
    expect(byKey("alb-latency-p99-query-api")).to.include({ extendedStatistic: "p99", threshold: 0.5 });
    expect(byKey("alb-latency-p99-ingest-api")).to.include({ extendedStatistic: "p99", threshold: 1.0 });
  });
  it("without replicas there is no replica-lag alarm", () => {
    const dev = alarmSpecs({ replicaCount: 0, allocatedStorageGb: 50, maxSlotWalKeepSizeMb: 10240, redisNodeCount: 1 });
    expect(dev.filter((s) => s.metricName === "ReplicaLag")).to.deep.equal([]);
  });
  it("every alarm's runbook entry exists in infra/README.md", () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, "infra", "README.md"), "utf8");
    for (const runbook of new Set(specs.map((s) => s.runbook))) expect(readme, runbook).to.contain(`<a id="alarm-${runbook}"></a>`);
  });
  it("the consumer-lag alarms watch the group ids the writer and the CDC loader really use", () => {
    expect(CDC_LOADER_GROUP_ID).to.equal(DEFAULT_GROUP_ID);
    expect(CONSUMER_GROUPS.map((g) => g.group)).to.deep.equal([WRITER_GROUP_ID, DEFAULT_GROUP_ID]);
  });
  it("alarm keys are unique", () => {
    expect(new Set(specs.map((s) => s.key)).size).to.equal(specs.length);
  });
});

describe("infra: dashboard", () => {
  const ids = {
    region: "us-east-1", dbPrimary: "db", dbReplicas: [] as string[], redisNodes: ["r-001"], kafkaCluster: "k", albArnSuffix: "app/a/1",
    targetGroupArnSuffixes: { "ingest-api": "tg/i", "query-api": "tg/q" },
    ecsCluster: "c", ecsServices: { "ingest-api": "i", "batch-writer": "w", "query-api": "q", "cdc-loader": "l" },
  };
  it("has no metric widget without metrics (CloudWatch refuses them), e.g. replica lag with no replicas", () => {
    const body = dashboardBody(ids) as { widgets: { properties: { title: string; metrics: unknown[] } }[] };
    for (const w of body.widgets) expect(w.properties.metrics, w.properties.title).to.not.be.empty;
    expect(body.widgets.map((w) => w.properties.title)).to.not.include("Replica lag (s)");
    const withReplicas = dashboardBody({ ...ids, dbReplicas: ["r1", "r2"] }) as typeof body;
    expect(withReplicas.widgets.map((w) => w.properties.title)).to.include("Replica lag (s)");
  });
  it("widgets stay inside the 24-column grid", () => {
    for (const w of (dashboardBody(ids) as { widgets: { x: number; width: number }[] }).widgets) expect(w.x + w.width).to.be.at.most(24);
  });
});

describe("infra: PostgreSQL parameter group", () => {
  const params = dbParameters({ maxSlotWalKeepSizeMb: 10240 });
  const get = (n: string) => params.find((p) => p.name === n);
  it("enables logical decoding with rds.logical_replication (RDS refuses wal_level)", () => {
    expect(get("rds.logical_replication")).to.include({ value: "1", applyMethod: "pending-reboot" });
    expect(get("wal_level")).to.equal(undefined);
  });
  it("bounds the WAL a stuck slot may keep", () => {
    expect(get("max_slot_wal_keep_size")?.value).to.equal("10240");
  });
  it("preloads no pg_cron (maintenance runs in the batch writer; nothing would schedule it) and forces TLS", () => {
    expect(get("shared_preload_libraries")?.value.split(",")).to.deep.equal(["pg_stat_statements"]);
    expect(get("cron.database_name")).to.equal(undefined);
    expect(get("rds.force_ssl")?.value).to.equal("1");
  });
});

describe("infra: service URLs", () => {
  const urls = serviceUrls({
    db: { host: "db", port: 5432, name: "atlas", username: "atlas", password: "p@ss,w/rd", replicaHosts: ["r1", "r2"] },
    redis: { host: "redis", port: 6379, authToken: "tok:en" },
    warehouse: { host: "dw", port: 5439, name: "atlas_warehouse", username: "atlas", password: "pw" },
  });
  it("percent-encodes credentials so a comma cannot split the replica list", () => {
    expect(urls.DATABASE_URL).to.equal("postgres://atlas:p%40ss%2Cw%2Frd@db:5432/atlas?sslmode=verify-full");
    expect(urls.DATABASE_REPLICA_URLS.split(",")).to.have.length(2);
    expect(new URL(urls.DATABASE_REPLICA_URLS.split(",")[1]).hostname).to.equal("r2");
  });
  it("without replicas the replica list is a non-empty value that parses to no URLs", () => {
    const none = serviceUrls({ db: { host: "db", port: 5432, name: "atlas", username: "a", password: "p", replicaHosts: [] }, redis: { host: "r", port: 6379, authToken: "t" }, warehouse: { host: "w", port: 5439, name: "w", username: "a", password: "p" } });
    expect(none.DATABASE_REPLICA_URLS).to.not.equal("");
    expect(parseConfig({ DATABASE_REPLICA_URLS: none.DATABASE_REPLICA_URLS }).DATABASE_REPLICA_URLS).to.deep.equal([]);
  });
  it("uses TLS for Redis (rediss://) with the auth token", () => {
    expect(urls.REDIS_URL).to.equal("rediss://:tok%3Aen@redis:6379");
  });
});

describe("infra: Debezium on MSK Connect", () => {
  const props = debeziumConnectorProperties({ dbHost: "primary.rds", dbPort: 5432, dbName: "atlas", dbUsername: "atlas", credentialsSecretArn: "arn:aws:secretsmanager:x:1:secret:db", replicationFactor: 3 });
  it("is the CDC code's connector, pointed at the primary with TLS and 3 topic replicas", () => {
    expect(props).to.include({ "database.hostname": "primary.rds", "database.sslmode": "require", "topic.creation.default.replication.factor": "3", "plugin.name": "pgoutput" });
  });
  it("holds a config-provider reference instead of the password", () => {
    expect(props["database.password"]).to.equal("${secretsmanager:arn:aws:secretsmanager:x:1:secret:db:password}");
    expect(workerProperties("us-east-1")).to.contain("config.providers=secretsmanager");
  });
});

describe("infra: stack config is validated up front", () => {
  for (const stack of ["dev", "prod"]) {
    it(`Pulumi.${stack}.yaml with its secrets is valid`, () => {
      const cfg = readStackConfig(configSource(loadStackConfig(stack)), "atlas-telemetry", stack);
      expect(cfg.tags).to.include({ Environment: stack, Project: "atlas-telemetry" });
    });
  }

  it("when a required setting and a secret are missing, then one error names both with the command that fixes them", () => {
    const values = loadStackConfig("dev");
    delete values["atlas:dbInstanceClass"];
    const secrets = { ...FAKE_SECRETS, "atlas:redisAuthToken": undefined };
    let err: unknown;
    try {
      readStackConfig(configSource(values, secrets), "atlas-telemetry", "dev");
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(StackConfigError);
    const msg = (err as Error).message;
    expect(msg).to.contain("atlas:dbInstanceClass is required: pulumi config set atlas:dbInstanceClass <value> --stack dev");
    expect(msg).to.contain("atlas:redisAuthToken is required and must be a secret: pulumi config set --secret atlas:redisAuthToken <value> --stack dev");
  });

  it("when a service size is not a Fargate size, then the error names the service and the fix", () => {
    const values = loadStackConfig("dev");
    const services = JSON.parse(values["atlas:services"]!);
    services["query-api"].memory = 700;
    values["atlas:services"] = JSON.stringify(services);
    expect(() => readStackConfig(configSource(values), "p", "dev")).to.throw(/atlas:services\.query-api: memory 700 MiB does not fit cpu 512/);
  });

  it("when a stack sets an app setting the program derives, or a bad value, then it is refused", () => {
    const values = { ...loadStackConfig("dev"), "atlas:appSettings": JSON.stringify({ DATABASE_URL: "postgres://x", LOG_LEVEL: "loud", NOPE: "1" }) };
    let msg = "";
    try {
      readStackConfig(configSource(values), "p", "dev");
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).to.contain("atlas:appSettings.DATABASE_URL is set by the program");
    expect(msg).to.contain("atlas:appSettings.LOG_LEVEL:");
    expect(msg).to.contain("atlas:appSettings.NOPE is not a setting of app/shared/config.ts");
  });

  it("when Redis is Multi-AZ without a replica, then it is refused", () => {
    const values = { ...loadStackConfig("dev"), "atlas:redisMultiAz": "true", "atlas:redisReplicaCount": "0" };
    expect(() => readStackConfig(configSource(values), "p", "dev")).to.throw(/redisMultiAz needs atlas:redisReplicaCount >= 1/);
  });

  it("when the slot WAL cap exceeds half the disk, then it is refused", () => {
    const values = { ...loadStackConfig("dev"), "atlas:dbMaxSlotWalKeepSizeMb": String(50 * 1024) };
    expect(() => readStackConfig(configSource(values), "p", "dev")).to.throw(/dbMaxSlotWalKeepSizeMb/);
  });

  it("when the CDC loader may scale past one task, then it is refused", () => {
    const values = loadStackConfig("dev");
    const services = JSON.parse(values["atlas:services"]!);
    services["cdc-loader"].maxCount = 2;
    values["atlas:services"] = JSON.stringify(services);
    expect(() => readStackConfig(configSource(values), "p", "dev")).to.throw(/cdc-loader.maxCount must be 1/);
  });
});
