/**
 * The whole Pulumi program under mocks, once per stack with the stack's own
 * Pulumi.<stack>.yaml (and fake, recognizable secrets). Each test names a
 * policy and checks it on the inputs the engine would receive.
 */
import { expect } from "chai";
import * as aws from "@pulumi/aws";
import { parseConfig, SECRET_SETTINGS, SERVICE_NAMES, SERVICE_SETTINGS, type ServiceName } from "../../app/shared/config";
import { readStackConfig, type StackConfig } from "../../infra/config";
import { servicesUsing } from "../../infra/services/container-settings";
import { SERVICE_COMMANDS, INGEST_PATH_PATTERNS } from "../../infra/services/entrypoints";
import { alarmSpecs } from "../../infra/monitoring/thresholds";
import {
  configSource, FAKE_SECRETS, loadStackConfig, ofType, one, reveal, runProgram, withoutSecrets,
  type ProgramRun, type RecordedResource,
} from "./harness";

const T = {
  sg: "aws:ec2/securityGroup:SecurityGroup",
  ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  rds: "aws:rds/instance:Instance",
  rdsParams: "aws:rds/parameterGroup:ParameterGroup",
  rdsSubnets: "aws:rds/subnetGroup:SubnetGroup",
  proxy: "aws:rds/proxy:Proxy",
  redis: "aws:elasticache/replicationGroup:ReplicationGroup",
  redisSubnets: "aws:elasticache/subnetGroup:SubnetGroup",
  msk: "aws:msk/cluster:Cluster",
  connector: "aws:mskconnect/connector:Connector",
  redshift: "aws:redshift/cluster:Cluster",
  redshiftSubnets: "aws:redshift/subnetGroup:SubnetGroup",
  redshiftParams: "aws:redshift/parameterGroup:ParameterGroup",
  task: "aws:ecs/taskDefinition:TaskDefinition",
  service: "aws:ecs/service:Service",
  secret: "aws:secretsmanager/secret:Secret",
  secretVersion: "aws:secretsmanager/secretVersion:SecretVersion",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
  lb: "aws:lb/loadBalancer:LoadBalancer",
  listener: "aws:lb/listener:Listener",
  rule: "aws:lb/listenerRule:ListenerRule",
  targetGroup: "aws:lb/targetGroup:TargetGroup",
  scaling: "aws:appautoscaling/target:Target",
  vpc: "awsx:ec2:Vpc",
  bucketSse: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  bucketPab: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
};
const PRIVATE = ["subnet-private-a", "subnet-private-b", "subnet-private-c"];
const PUBLIC = ["subnet-public-a", "subnet-public-b", "subnet-public-c"];

/** The mock gives every resource the id `<name>-id`. */
const sgId = (suffix: string) => `atlas-sg-${suffix}-id`;

interface ContainerDef { name: string; command: string[]; environment: { name: string; value: string }[]; secrets: { name: string; valueFrom: string }[] }
const containerOf = (task: RecordedResource): ContainerDef => (JSON.parse(task.inputs.containerDefinitions as string) as ContainerDef[])[0];
const taskOf = (run: ProgramRun, service: ServiceName) => one(run, T.task, `atlas-${service}-task`);

/** Does the @pulumi/aws class for this type token take a `tags` input? (Generated classes always pass the key.) */
function isTaggable(type: string): boolean {
  const m = /^aws:([^/:]+)\/[^:]+:(\w+)$/.exec(type);
  if (!m) return false;
  const mod = (aws as unknown as Record<string, Record<string, unknown>>)[m[1]];
  const cls = mod?.[m[2]];
  if (typeof cls !== "function") throw new Error(`cannot find class for ${type}`);
  return cls.toString().includes('resourceInputs["tags"]');
}

for (const stack of ["dev", "prod"] as const) {
  describe(`infra program, stack ${stack}`, function () {
    this.timeout(120_000);
    let run: ProgramRun;
    let cfg: StackConfig;

    before(async () => {
      cfg = readStackConfig(configSource(loadStackConfig(stack)), "atlas-telemetry", stack);
      run = await runProgram(stack);
    });

    describe("network exposure", () => {
      it("only the ALB's security group accepts traffic from the internet, and only on 80/443", () => {
        const open = ofType(run, T.ingress).filter((r) => r.inputs.cidrIpv4 === "0.0.0.0/0" || r.inputs.cidrIpv6 === "::/0");
        expect(open.length).to.be.greaterThan(0);
        for (const r of open) {
          expect(r.inputs.securityGroupId, r.name).to.equal(sgId("alb"));
          expect([80, 443]).to.include(r.inputs.fromPort);
          expect(r.inputs.toPort).to.equal(r.inputs.fromPort);
        }
        for (const r of ofType(run, T.ingress)) expect(r.inputs.cidrIpv4 ?? r.inputs.referencedSecurityGroupId, r.name).to.be.a("string");
      });

      it("no security group carries inline rules (every rule is a visible resource)", () => {
        for (const g of ofType(run, T.sg)) expect(g.inputs.ingress ?? [], g.name).to.deep.equal([]);
      });

      it("the ALB is internet-facing in the public subnets; nothing else is public", () => {
        const lb = one(run, T.lb);
        expect(lb.inputs.internal).to.equal(false);
        expect(lb.inputs.subnets).to.deep.equal(PUBLIC);
        for (const db of ofType(run, T.rds)) expect(db.inputs.publiclyAccessible, db.name).to.equal(false);
        expect(one(run, T.redshift).inputs.publiclyAccessible).to.equal(false);
        expect(one(run, T.msk).inputs.brokerNodeGroupInfo.connectivityInfo.publicAccess.type).to.equal("DISABLED");
        for (const s of ofType(run, T.service)) expect(s.inputs.networkConfiguration.assignPublicIp, s.name).to.equal(false);
      });

      it("data stores, tasks, proxy and connector live in the private subnets", () => {
        expect(one(run, T.rdsSubnets).inputs.subnetIds).to.deep.equal(PRIVATE);
        expect(one(run, T.redisSubnets).inputs.subnetIds).to.deep.equal(PRIVATE);
        expect(one(run, T.redshiftSubnets).inputs.subnetIds).to.deep.equal(PRIVATE);
        expect(one(run, T.msk).inputs.brokerNodeGroupInfo.clientSubnets).to.deep.equal(PRIVATE);
        expect(one(run, T.connector).inputs.kafkaCluster.apacheKafkaCluster.vpc.subnets).to.deep.equal(PRIVATE);
        for (const s of ofType(run, T.service)) expect(s.inputs.networkConfiguration.subnets, s.name).to.deep.equal(PRIVATE);
        for (const p of ofType(run, T.proxy)) expect(p.inputs.vpcSubnetIds).to.deep.equal(PRIVATE);
      });

      const stores: [string, string, number, Parameters<typeof servicesUsing>[0][]][] = [
        ["redis", "redis", 6379, ["REDIS_URL"]],
        ["msk", "msk", 9094, ["KAFKA_BROKERS"]],
        ["redshift", "redshift", 5439, ["WAREHOUSE_URL"]],
        ["rds", "rds", 5432, ["DATABASE_URL", "DATABASE_REPLICA_URLS"]],
      ];
      for (const [label, sg, port, settings] of stores) {
        it(`${label} accepts port ${port} only from the services whose settings use it (${settings.join(", ")}) and Debezium/proxy`, () => {
          const rules = ofType(run, T.ingress).filter((r) => r.inputs.securityGroupId === sgId(sg) && r.inputs.referencedSecurityGroupId !== sgId(sg));
          const sources = rules.map((r) => r.inputs.referencedSecurityGroupId as string);
          const expected = [...new Set(settings.flatMap(servicesUsing))].map((s) => sgId(s));
          if (sg === "msk") expected.push(sgId("msk-connect"));
          if (sg === "rds") {
            expected.push(sgId("msk-connect"));
            if (cfg.database.proxyEnabled) expected.push(sgId("rds-proxy"));
          }
          expect(sources).to.have.members(expected);
          for (const r of rules) expect([r.inputs.fromPort, r.inputs.toPort]).to.deep.equal([port, port]);
        });
      }

      it("API tasks accept only the ALB, on the container port; workers accept nothing", () => {
        for (const s of SERVICE_NAMES) {
          const rules = ofType(run, T.ingress).filter((r) => r.inputs.securityGroupId === sgId(s));
          if (s === "ingest-api" || s === "query-api") {
            expect(rules.map((r) => [r.inputs.referencedSecurityGroupId, r.inputs.fromPort])).to.deep.equal([[sgId("alb"), 8080]]);
          } else {
            expect(rules, s).to.deep.equal([]);
          }
        }
      });
    });

    describe("encryption", () => {
      it("RDS instances are encrypted with the stack key and the parameter group forces TLS", () => {
        for (const db of ofType(run, T.rds)) {
          expect(db.inputs.storageEncrypted, db.name).to.equal(true);
          expect(db.inputs.kmsKeyId, db.name).to.match(/kms\/key/);
        }
        const params = one(run, T.rdsParams).inputs.parameters as { name: string; value: string }[];
        expect(params).to.deep.include({ name: "rds.force_ssl", value: "1", applyMethod: "immediate" });
      });
      it("Redis is encrypted at rest and in transit, with an AUTH token", () => {
        const r = one(run, T.redis).inputs;
        expect(r).to.include({ atRestEncryptionEnabled: true, transitEncryptionEnabled: true });
        expect(reveal(r.authToken)).to.equal(FAKE_SECRETS["atlas:redisAuthToken"]);
      });
      it("MSK uses TLS client-broker and in-cluster, encrypted at rest with the stack key", () => {
        const e = one(run, T.msk).inputs.encryptionInfo;
        expect(e.encryptionInTransit).to.deep.equal({ clientBroker: "TLS", inCluster: true });
        expect(e.encryptionAtRestKmsKeyArn).to.match(/kms\/key/);
        expect(one(run, T.connector).inputs.kafkaClusterEncryptionInTransit).to.deep.equal({ encryptionType: "TLS" });
      });
      it("Redshift is encrypted with the stack key and requires TLS", () => {
        const r = one(run, T.redshift).inputs;
        expect(r.encrypted).to.equal("true");
        expect(r.kmsKeyId).to.match(/kms\/key/);
        expect(one(run, T.redshiftParams).inputs.parameters).to.deep.include({ name: "require_ssl", value: "true" });
      });
      it("the plugin bucket is KMS-encrypted and blocks public access; secrets use the stack key", () => {
        expect(one(run, T.bucketSse).inputs.rules[0].applyServerSideEncryptionByDefault.sseAlgorithm).to.equal("aws:kms");
        expect(one(run, T.bucketPab).inputs).to.include({ blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
        for (const s of ofType(run, T.secret)) expect(s.inputs.kmsKeyId, s.name).to.match(/kms\/key/);
      });
      it("RDS Proxy, when present, requires TLS", () => {
        for (const p of ofType(run, T.proxy)) expect(p.inputs.requireTls).to.equal(true);
      });
    });

    describe("sizes per stack", () => {
      it(`the primary follows the stack: multiAz=${stack === "prod"}, deletion protection=${stack === "prod"}, gp3, backups`, () => {
        const primary = one(run, T.rds, "primary").inputs;
        expect(primary).to.include({ multiAz: stack === "prod", deletionProtection: stack === "prod", storageType: "gp3", performanceInsightsEnabled: true, engine: "postgres" });
        expect(primary.backupRetentionPeriod).to.be.at.least(1);
        expect(primary.instanceClass).to.equal(cfg.database.instanceClass);
        expect(primary.username).to.equal(cfg.database.username);
      });
      it(`read replicas: ${stack === "prod" ? 2 : 0}, replicating the primary`, () => {
        const replicas = ofType(run, T.rds).filter((r) => r.name.includes("replica"));
        expect(replicas).to.have.length(cfg.database.replicaCount);
        expect(replicas).to.have.length(stack === "prod" ? 2 : 0);
        for (const r of replicas) expect(r.inputs.replicateSourceDb).to.equal("atlas-db-primary");
      });
      it(`RDS Proxy ${stack === "prod" ? "fronts the primary" : "is absent"}`, () => {
        expect(ofType(run, T.proxy)).to.have.length(stack === "prod" ? 1 : 0);
      });
      it(`Redis: ${stack === "prod" ? "primary + replica across AZs with failover" : "one small node"}`, () => {
        const r = one(run, T.redis).inputs;
        expect(r.numCacheClusters).to.equal(stack === "prod" ? 2 : 1);
        expect(r.multiAzEnabled).to.equal(stack === "prod");
        expect(r.automaticFailoverEnabled).to.equal(stack === "prod");
      });
      it("VPC spans 3 AZs with public and private subnets; NAT per the stack", () => {
        const v = one(run, T.vpc).inputs;
        expect(v.numberOfAvailabilityZones).to.equal(3);
        expect(v.subnetSpecs.map((s: { type: string }) => s.type)).to.have.members(["Public", "Private"]);
        expect(v.natGateways.strategy).to.equal(stack === "prod" ? "OnePerAz" : "Single");
      });
      if (stack === "dev") {
        it("dev is small: burstable database and cache, single-node warehouse", () => {
          expect(one(run, T.rds, "primary").inputs.instanceClass).to.match(/^db\.t4g\./);
          expect(one(run, T.redis).inputs.nodeType).to.match(/^cache\.t4g\./);
          expect(one(run, T.redshift).inputs.clusterType).to.equal("single-node");
        });
      }
      it("autoscaling bounds follow the stack; the CDC loader never scales", () => {
        for (const s of SERVICE_NAMES) {
          const targets = ofType(run, T.scaling).filter((t) => t.name === `atlas-${s}-scaling`);
          const sizing = cfg.services[s];
          if (sizing.maxCount > sizing.minCount) {
            expect(targets.map((t) => [t.inputs.minCapacity, t.inputs.maxCapacity]), s).to.deep.equal([[sizing.minCount, sizing.maxCount]]);
          } else {
            expect(targets, s).to.deep.equal([]);
          }
        }
        expect(ofType(run, T.scaling).some((t) => t.name.includes("cdc-loader"))).to.equal(false);
      });
    });

    describe("database parameters", () => {
      it("the parameter group (postgres15) enables logical replication and bounds slot WAL", () => {
        const pg = one(run, T.rdsParams).inputs;
        expect(pg.family).to.equal("postgres15");
        const params = pg.parameters as { name: string; value: string }[];
        expect(params).to.deep.include({ name: "rds.logical_replication", value: "1", applyMethod: "pending-reboot" });
        expect(params.find((p) => p.name === "max_slot_wal_keep_size")?.value).to.equal(String(cfg.database.maxSlotWalKeepSizeMb));
        expect(params.find((p) => p.name === "wal_level")).to.equal(undefined);
        for (const db of ofType(run, T.rds)) expect(db.inputs.parameterGroupName).to.equal("atlas-db-params");
      });
    });

    describe("services", () => {
      for (const service of SERVICE_NAMES) {
        it(`${service}: container environment ∪ secrets == SERVICE_SETTINGS, secrets only as ECS secrets`, () => {
          const c = containerOf(taskOf(run, service));
          const names = [...c.environment.map((e) => e.name), ...c.secrets.map((s) => s.name)];
          expect(names).to.have.members([...SERVICE_SETTINGS[service]]);
          expect(names).to.have.lengthOf(SERVICE_SETTINGS[service].length);
          for (const e of c.environment) expect(SECRET_SETTINGS as readonly string[], e.name).not.to.include(e.name);
          for (const s of c.secrets) {
            const slug = s.name.toLowerCase().replace(/_/g, "-");
            expect(s.valueFrom).to.equal(`arn:aws:mock:us-east-1:123456789012:secretsmanager/secret/atlas-secrets-${slug}`);
          }
        });
        it(`${service}: runs ${SERVICE_COMMANDS[service].join(" ")} on Fargate with the configured size`, () => {
          const task = taskOf(run, service);
          expect(containerOf(task).command).to.deep.equal([...SERVICE_COMMANDS[service]]);
          expect(task.inputs).to.include({ cpu: String(cfg.services[service].cpu), memory: String(cfg.services[service].memory), networkMode: "awsvpc" });
          expect(task.inputs.requiresCompatibilities).to.deep.equal(["FARGATE"]);
        });
        it(`${service}: the execution role may read exactly its own secrets`, () => {
          const policies = ofType(run, T.rolePolicy).filter((p) => p.name === `atlas-${service}-secrets`);
          const expected = SERVICE_SETTINGS[service].filter((s) => (SECRET_SETTINGS as readonly string[]).includes(s))
            .map((s) => `arn:aws:mock:us-east-1:123456789012:secretsmanager/secret/atlas-secrets-${s.toLowerCase().replace(/_/g, "-")}`);
          const doc = JSON.parse(policies[0].inputs.policy as string) as { Statement: { Action: string[]; Resource: string[] }[] };
          expect(doc.Statement.find((st) => st.Action.includes("secretsmanager:GetSecretValue"))?.Resource).to.have.members(expected);
        });
      }

      it("what each task receives parses with the services' own schema (parseConfig of app/shared)", () => {
        const secretValues = new Map(ofType(run, T.secretVersion).map((v) => [v.inputs.secretId as string, reveal(v.inputs.secretString) as string]));
        for (const service of SERVICE_NAMES) {
          const c = containerOf(taskOf(run, service));
          const env: Record<string, string> = Object.fromEntries(c.environment.map((e) => [e.name, e.value]));
          for (const s of c.secrets) {
            const secretName = s.valueFrom.split("/").pop()!;
            const value = secretValues.get(`${secretName}-id`);
            expect(value, `${service} ${s.name}`).to.be.a("string");
            env[s.name] = value!;
          }
          const parsed = parseConfig(env);
          expect(parsed.KAFKA_BROKERS ?? [], service).to.satisfy((b: string[]) => b.every((x) => x.endsWith(":9094")));
          if (SERVICE_SETTINGS[service].includes("KAFKA_SSL")) expect(parsed.KAFKA_SSL, service).to.equal(true);
          if (SERVICE_SETTINGS[service].includes("DATABASE_REPLICA_URLS")) expect(parsed.DATABASE_REPLICA_URLS).to.have.length(cfg.database.replicaCount);
        }
      });
      it("the DATABASE_URL secret points at the proxy when there is one, with TLS verification", () => {
        const v = reveal(one(run, T.secretVersion, "database-url").inputs.secretString) as string;
        const url = new URL(v);
        expect(url.hostname).to.equal(stack === "prod" ? "atlas-db-proxy.proxy-mock.rds.amazonaws.com" : "atlas-db-primary.mock.rds.amazonaws.com");
        expect(url.searchParams.get("sslmode")).to.equal("verify-full");
        expect(decodeURIComponent(url.password)).to.equal(FAKE_SECRETS["atlas:dbPassword"]);
      });
      it("DATABASE_REPLICA_URLS lists one URL per replica", () => {
        const v = reveal(one(run, T.secretVersion, "database-replica-urls").inputs.secretString) as string;
        expect(v).to.not.equal(""); // Secrets Manager refuses an empty SecretString
        expect(v.split(",").filter((u) => u !== "")).to.have.length(cfg.database.replicaCount);
      });
      it("Debezium reads the primary directly (never the proxy) and only references the password", () => {
        const c = one(run, T.connector).inputs.connectorConfiguration as Record<string, string>;
        expect(c["database.hostname"]).to.equal("atlas-db-primary.mock.rds.amazonaws.com");
        expect(c["database.password"]).to.match(/^\$\{secretsmanager:arn:.*atlas-db-credentials:password\}$/);
      });
    });

    describe("load balancer", () => {
      it("routes /v1/telemetry and /v1/attributes to ingest, everything else to query", () => {
        const rule = one(run, T.rule).inputs;
        expect(rule.conditions[0].pathPattern.values).to.deep.equal([...INGEST_PATH_PATTERNS]);
        expect(rule.actions[0].targetGroupArn).to.match(/atlas-lb-ingest-api$/);
        const main = ofType(run, T.listener).find((l) => l.inputs.defaultActions[0].type === "forward")!;
        expect(main.inputs.defaultActions[0].targetGroupArn).to.match(/atlas-lb-query-api$/);
        expect(rule.listenerArn).to.match(new RegExp(`/${main.name}$`));
      });
      it("target groups health-check /readyz on the container port", () => {
        for (const tg of ofType(run, T.targetGroup)) expect(tg.inputs).to.deep.include({ port: 8080, targetType: "ip", healthCheck: tg.inputs.healthCheck }).and.nested.include({ "healthCheck.path": "/readyz" });
      });
      it("without a certificate the ALB serves plain HTTP on 80 only", () => {
        expect(ofType(run, T.listener).map((l) => [l.inputs.port, l.inputs.protocol])).to.deep.equal([[80, "HTTP"]]);
      });
    });

    describe("alarms", () => {
      it("every alarm of thresholds.ts exists with its threshold and notifies the SNS topic", () => {
        const specs = alarmSpecs({ replicaCount: cfg.database.replicaCount, allocatedStorageGb: cfg.database.allocatedStorageGb, maxSlotWalKeepSizeMb: cfg.database.maxSlotWalKeepSizeMb, redisNodeCount: 1 + cfg.cache.replicaCount });
        const alarms = ofType(run, T.alarm);
        expect(alarms).to.have.length(specs.length);
        for (const s of specs) {
          const a = alarms.find((x) => x.inputs.name === `atlas-${stack}-${s.key}`);
          expect(a, s.key).to.not.equal(undefined);
          expect(a!.inputs.threshold, s.key).to.equal(s.threshold);
          expect(a!.inputs.alarmActions, s.key).to.deep.equal(["arn:aws:mock:us-east-1:123456789012:sns/topic/atlas-mon-alerts"]);
          expect(a!.inputs.alarmDescription, s.key).to.contain(`infra/README.md#alarm-${s.runbook}`);
        }
      });
      it("the seeds' alarms are there with the seeds' numbers", () => {
        const byMetric = (m: string) => ofType(run, T.alarm).filter((a) => a.inputs.metricName === m || (a.inputs.metricQueries ?? []).some((q: { metric?: { metricName: string } }) => q.metric?.metricName === m));
        expect(byMetric("ReplicaLag").filter((a) => a.inputs.threshold === 5)).to.have.length(cfg.database.replicaCount);
        expect(byMetric("CPUUtilization").filter((a) => a.inputs.namespace === "AWS/RDS" && a.inputs.threshold === 80)).to.have.length(1 + cfg.database.replicaCount);
        expect(byMetric("EngineCPUUtilization").every((a) => a.inputs.threshold === 75)).to.equal(true);
        expect(byMetric("SumOffsetLag").some((a) => a.inputs.threshold === 50_000)).to.equal(true);
        expect(byMetric("OldestReplicationSlotLag")).to.have.length(1);
        expect(byMetric("FreeStorageSpace").length).to.be.greaterThan(0);
        expect(byMetric("HTTPCode_Target_5XX_Count")).to.have.length(1);
        expect(byMetric("TargetResponseTime").map((a) => a.inputs.extendedStatistic)).to.deep.equal(["p99", "p99"]);
        expect(byMetric("DatabaseMemoryUsagePercentage").length).to.equal(1 + cfg.cache.replicaCount);
        expect(byMetric("Evictions").length).to.equal(1 + cfg.cache.replicaCount);
      });
      it("the consumer-lag alarms watch the writer's real group and topics", () => {
        const dims = ofType(run, T.alarm).filter((a) => a.inputs.metricName === "SumOffsetLag").map((a) => a.inputs.dimensions);
        expect(dims).to.deep.include({ "Cluster Name": "atlas-kafka-msk", "Consumer Group": "atlas-batch-writer", Topic: "atlas.telemetry.live" });
      });
    });

    describe("secrets and tags", () => {
      it("no secret value appears in plain text in any resource input (only inside Pulumi secrets)", () => {
        const all = withoutSecrets(run.resources.map((r) => r.inputs));
        for (const [key, value] of Object.entries(FAKE_SECRETS)) {
          expect(all.includes(value), key).to.equal(false);
          expect(all.includes(encodeURIComponent(value)), key).to.equal(false);
        }
        // Sanity: the values are there, wrapped, so the check above would see a leak.
        const wrapped = JSON.stringify(run.resources.map((r) => r.inputs));
        for (const value of Object.values(FAKE_SECRETS)) expect(wrapped).to.contain(value);
      });
      it("no secret value is a stack output", () => {
        const out = JSON.stringify(run.outputs);
        for (const value of Object.values(FAKE_SECRETS)) expect(out).not.to.contain(value);
      });
      it("every taggable resource carries the common tags", () => {
        const taggable = run.resources.filter((r) => r.type.startsWith("aws:") && isTaggable(r.type));
        expect(taggable.length).to.be.greaterThan(50);
        for (const r of taggable) expect(r.inputs.tags, `${r.type} ${r.name}`).to.deep.include(cfg.tags);
        expect(one(run, T.vpc).inputs.tags).to.deep.include(cfg.tags);
      });
      it("the stack exports what an SRE needs", () => {
        expect(run.outputs).to.include.keys("albUrl", "dashboardUrl", "databaseEndpoint", "redisEndpoint", "kafkaBootstrapBrokers", "warehouseEndpoint", "alarmTopicArn");
        expect(run.outputs.albUrl).to.equal("http://atlas-lb-alb.elb.mock.amazonaws.com");
        expect(run.outputs.dashboardUrl).to.equal(`https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=atlas-${stack}`);
      });
    });
  });
}

describe("infra program, prod with a certificate", function () {
  this.timeout(120_000);
  let run: ProgramRun;
  before(async () => {
    run = await runProgram("prod", { ...loadStackConfig("prod"), "atlas:certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/mock" });
  });
  it("serves HTTPS on 443 with a TLS 1.2+ policy and redirects HTTP to it", () => {
    const listeners = ofType(run, T.listener);
    const https = listeners.find((l) => l.inputs.port === 443)!;
    expect(https.inputs).to.include({ protocol: "HTTPS", certificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/mock", sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06" });
    const http = listeners.find((l) => l.inputs.port === 80)!;
    expect(http.inputs.defaultActions[0]).to.deep.include({ type: "redirect" });
    expect(http.inputs.defaultActions[0].redirect).to.include({ protocol: "HTTPS", statusCode: "HTTP_301" });
    expect(one(run, T.rule).inputs.listenerArn).to.match(/atlas-lb-https$/);
    expect(run.outputs.albUrl).to.match(/^https:\/\//);
  });
});

describe("infra program, new stack before its first migration", function () {
  this.timeout(120_000);
  it("when atlas:cdcConnectorEnabled is false, then no Debezium connector is declared (it needs the migrations' publication)", async () => {
    const run = await runProgram("dev", { ...loadStackConfig("dev"), "atlas:cdcConnectorEnabled": "false" });
    expect(ofType(run, T.connector)).to.deep.equal([]);
    expect(ofType(run, T.msk)).to.have.length(1);
  });
});

describe("infra program, missing stack setting", () => {
  it("when a required setting is missing, then the program fails naming it and the command that sets it", async () => {
    const values = loadStackConfig("prod");
    delete values["atlas:dbReplicaCount"];
    let err: unknown;
    try {
      await runProgram("prod", values, { ...FAKE_SECRETS, "atlas:warehousePassword": undefined });
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.contain('stack "prod" configuration is invalid');
    expect(String(err)).to.contain("atlas:dbReplicaCount is required: pulumi config set atlas:dbReplicaCount <value> --stack prod");
    expect(String(err)).to.contain("atlas:warehousePassword is required and must be a secret: pulumi config set --secret atlas:warehousePassword");
  });
});
