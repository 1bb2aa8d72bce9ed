/**
 * Sizes per stack (prod Multi-AZ with its replicas, dev small), the parameter group, and the alarms with their thresholds.
 * Runs the whole program under mocks per stack (tests/infra/fixtures.ts).
 */
import { loaderSourceTopics } from "../../app/cdc/connector-config";
import { expect } from "chai";
import { SERVICE_NAMES } from "../../app/shared/config";
import { alarmSpecs } from "../../infra/monitoring/thresholds";
import { T } from "./fixtures";
import { ofType, one } from "./harness";
import type { StackConfig } from "../../infra/config";
import { STACKS, stackRun } from "./fixtures";
import type { ProgramRun } from "./harness";

for (const stack of STACKS) {
  describe(`infra program, stack ${stack}`, function () {
    this.timeout(120_000);
    let run: ProgramRun;
    let cfg: StackConfig;
    before(async () => {
      ({ run, cfg } = await stackRun(stack));
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
    it("partition maintenance is alarmed from the batch writer's log: default-partition rows, days ahead, no run for 3 hours", () => {
      const filters = ofType(run, T.logMetricFilter);
      for (const m of ["HistoryDefaultPartitionRows", "PartitionsAheadDays", "PartitionMaintenanceRuns"]) {
        const f = filters.find((x) => x.inputs.metricTransformation.name === m);
        expect(f, m).to.not.equal(undefined);
        expect(f!.inputs.logGroupName, m).to.equal(`/atlas/${stack}/batch-writer`);
        expect(f!.inputs.pattern, m).to.contain("history partition maintenance run");
        expect(f!.inputs.metricTransformation.namespace, m).to.equal(`Atlas/${stack}`);
        const alarm = ofType(run, T.alarm).find((a) => a.inputs.metricName === m);
        expect(alarm?.inputs.namespace, m).to.equal(`Atlas/${stack}`);
      }
      const stale = ofType(run, T.alarm).find((a) => a.inputs.name === `atlas-${stack}-partition-maintenance-stale`);
      expect(stale!.inputs).to.include({ treatMissingData: "breaching", comparisonOperator: "LessThanThreshold", threshold: 1 });
    });
    it("analytics freshness is alarmed (the seeds' 15-minute bound, silence counts) and consumer lag covers every topic the loader reads", () => {
      const f = ofType(run, T.logMetricFilter).find((x) => x.inputs.metricTransformation.name === "AnalyticsLagSeconds");
      expect(f!.inputs.logGroupName).to.equal(`/atlas/${stack}/cdc-loader`);
      const alarm = ofType(run, T.alarm).find((a) => a.inputs.name === `atlas-${stack}-analytics-lag`);
      expect(alarm!.inputs).to.include({ metricName: "AnalyticsLagSeconds", namespace: `Atlas/${stack}`, threshold: 900, treatMissingData: "breaching" });
      const lagTopics = ofType(run, T.alarm)
        .filter((a) => a.inputs.metricName === "SumOffsetLag" && a.inputs.dimensions?.["Consumer Group"] === "atlas-cdc-loader")
        .map((a) => a.inputs.dimensions.Topic as string);
      expect([...new Set(lagTopics)].sort()).to.deep.equal([...loaderSourceTopics()].sort());
    });
    it("webhook processing lag is alarmed from the batch writer's log at the seeds' 2-minute bound; no deliveries is not an alarm", () => {
      const f = ofType(run, T.logMetricFilter).find((x) => x.inputs.metricTransformation.name === "WebhookProcessingLagP95Seconds");
      expect(f!.inputs.logGroupName).to.equal(`/atlas/${stack}/batch-writer`);
      expect(f!.inputs.pattern).to.contain("webhook processing lag");
      expect(f!.inputs.metricTransformation.value).to.equal("$.p95_seconds");
      const alarm = ofType(run, T.alarm).find((a) => a.inputs.name === `atlas-${stack}-webhook-processing-lag`);
      expect(alarm!.inputs).to.include({ metricName: "WebhookProcessingLagP95Seconds", namespace: `Atlas/${stack}`, threshold: 120, comparisonOperator: "GreaterThanThreshold", treatMissingData: "notBreaching" });
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
  });
}
