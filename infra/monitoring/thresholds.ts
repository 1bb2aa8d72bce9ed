/**
 * Alarm thresholds, with where each number comes from.
 *
 * "seed 001" is /work/shared/seeds/001_*.txt: Part C §4 (the Terraform alarms),
 * Part B §5 ("LAG DETECTION & HANDLING", Alarms 1-3) and "Operational
 * Excellence §2" (the warning/critical table). Numbers the seeds do not give
 * are marked "ours" with the reasoning. Pure: no resources, tested directly.
 */
import { CONSUMER_GROUPS, HTTP_SERVICES, type HttpServiceName } from "../services/entrypoints";
import { SERVICE_NAMES, type ServiceName } from "../../app/shared/config";

const GIB = 1024 ** 3;

export const THRESHOLDS = {
  /** seed 001 Part C §4 `rds_replica_lag` (5 s, 2 × 60 s) = Part B Alarm 1; also the freshness budget's replica max. */
  replicaLagSeconds: 5,
  /** seed 001 Part B Alarm 2: "Replica Lag > 10s for 1 datapoint", page. */
  replicaLagCriticalSeconds: 10,
  /** seed 001 Part C §4 `rds_cpu`: > 80 %, 2 × 300 s. */
  rdsCpuPercent: 80,
  /** seed 001 Operational Excellence §2 "Disk usage > 75 %" warning → alarm when free < 25 % of allocated. */
  rdsFreeStorageFraction: 0.25,
  /**
   * Ours: the seeds never bound slot growth. A slot that the connector stopped
   * reading retains WAL up to max_slot_wal_keep_size, then PostgreSQL
   * invalidates it (CDC must be re-snapshotted). Alarm at half the cap leaves
   * time to fix the connector first.
   */
  replicationSlotLagFractionOfCap: 0.5,
  /** Ours: WAL on disk (slots + archiving backlog) above the slot cap means something besides the slot holds WAL. */
  transactionLogsFractionOfCap: 1.0,
  /** seed 001 Part C §4 `redis_cpu`: EngineCPUUtilization > 75 %, 2 × 300 s. */
  redisCpuPercent: 75,
  /** Ours: the cache evicts (volatile-lru) near its limit; 80 % is the point to size up before evictions churn. */
  redisMemoryPercent: 80,
  /** Ours: a few evictions are normal for a TTL cache; sustained 1,000 per 5 min means the working set does not fit. */
  redisEvictionsPer5Min: 1000,
  /** seed 001 Part C §4 `kafka_consumer_lag` / Part B Alarm 3: > 50K messages, 3 × 300 s. */
  consumerLagMessages: 50_000,
  /** seed 001 Operational Excellence §2 "Kafka lag critical > 100K". */
  consumerLagCriticalMessages: 100_000,
  /** Ours: the seeds give no error budget; 1 % of requests failing with 5xx for 3 minutes is an incident. */
  alb5xxPercent: 1,
  /**
   * Ours: p99 target response time, seconds. Ingest waits for Kafka acks=all;
   * query reads are 15-100 ms targets in seed 001 Part B §3, so p99 above 0.5 s
   * means the cache or replicas are not doing their job.
   */
  p99LatencySeconds: { "ingest-api": 1.0, "query-api": 0.5 } satisfies Record<HttpServiceName, number>,
  /** Ours: autoscaling tracks 60 % CPU; 85 % for 15 minutes means the service is at maxCount. */
  ecsCpuPercent: 85,
  /**
   * Ours: maintenance runs hourly (PARTITION_MAINTENANCE_INTERVAL_SECONDS) and
   * premakes 7 days; fewer than 3 days ahead means several runs failed, with
   * days left before readings start landing in the default partition.
   */
  partitionsAheadDaysMin: 3,
  /** Ours: no successful maintenance run for 3 hours (3 missed hourly runs) pages. */
  partitionMaintenanceStaleHours: 3,
  /** seed 001 freshness matrix, Redshift row: target 5 min, max 15 min ("Data as of"). */
  analyticsLagSeconds: 900,
  /** seed 001 freshness matrix, "Kafka Stream → webhooks" row: target 10-30 s, max 2 min (issue 18: alarm on the p95 over it). */
  webhookProcessingLagSeconds: 120,
} as const;

/**
 * Metrics the services log rather than publish (no CloudWatch SDK or agent
 * in the tasks): a log metric filter on the service's log group turns each
 * matching JSON line into a datapoint of `metricName` with the value of the
 * field `value` selects. Namespace: APP_NAMESPACE/<stack>, so that stacks in
 * one account never mix. The writer logs MAINTENANCE_RUN_LOG
 * (db/maintenance.ts) after each successful run.
 */
export const APP_NAMESPACE = "Atlas";
export const MAINTENANCE_RUN_PATTERN = '{ $.msg = "history partition maintenance run" }';
export const WEBHOOK_LAG_PATTERN = '{ $.msg = "webhook processing lag" }';
export interface LogMetric {
  service: ServiceName;
  metricName: string;
  pattern: string;
  value: string;
}
export const LOG_METRICS: LogMetric[] = [
  { service: "batch-writer", metricName: "HistoryDefaultPartitionRows", pattern: MAINTENANCE_RUN_PATTERN, value: "$.default_rows" },
  { service: "batch-writer", metricName: "PartitionsAheadDays", pattern: MAINTENANCE_RUN_PATTERN, value: "$.partitions_ahead_days" },
  { service: "batch-writer", metricName: "PartitionMaintenanceRuns", pattern: MAINTENANCE_RUN_PATTERN, value: "1" },
  // app/cdc/reconcile.ts scheduleReconcile, every 15 minutes.
  { service: "cdc-loader", metricName: "ReconcileDifferences", pattern: '{ $.msg = "cdc reconcile" }', value: "$.differences" },
  // app/cdc/freshness-report.ts, once a minute.
  { service: "cdc-loader", metricName: "AnalyticsLagSeconds", pattern: '{ $.msg = "analytics freshness" }', value: "$.lag_seconds" },
  // app/webhooks/delivery/lag-report.ts: the p95 commit → send lag of each minute's deliveries (the worker runs in the batch writer).
  { service: "batch-writer", metricName: "WebhookProcessingLagP95Seconds", pattern: WEBHOOK_LAG_PATTERN, value: "$.p95_seconds" },
];

/** Autoscaling target, average CPU %. */
export const AUTOSCALING_CPU_TARGET = 60;

/** What an alarm watches; the monitoring component maps it to CloudWatch dimensions. */
export type AlarmTarget =
  | { kind: "db-primary" }
  | { kind: "db-replica"; index: number }
  | { kind: "redis-node"; index: number }
  | { kind: "kafka"; group: string; topic: string }
  | { kind: "alb" }
  | { kind: "target-group"; service: HttpServiceName }
  | { kind: "ecs-service"; service: ServiceName }
  /** A metric of LOG_METRICS: no dimensions, namespace APP_NAMESPACE/<stack>. */
  | { kind: "log-metric"; service: ServiceName };

export interface AlarmSpec {
  /** Unique; also the runbook anchor in infra/README.md ("#alarm-<key without index>"). */
  key: string;
  runbook: string;
  description: string;
  target: AlarmTarget;
  namespace: string;
  metricName: string;
  /** One of statistic / extendedStatistic. */
  statistic?: "Average" | "Sum" | "Maximum" | "Minimum";
  extendedStatistic?: string;
  /** When set, the alarm is on this metric-math expression over `m1` (the metric above) and further metrics by id (same namespace, dimensions and statistic). */
  expression?: { expression: string; metrics: Record<string, string> };
  period: number;
  evaluationPeriods: number;
  datapointsToAlarm: number;
  comparison: "GreaterThanThreshold" | "LessThanThreshold";
  threshold: number;
  treatMissingData: "missing" | "notBreaching" | "breaching";
}

export interface AlarmInputs {
  replicaCount: number;
  allocatedStorageGb: number;
  maxSlotWalKeepSizeMb: number;
  /** Redis primary + replicas (ElastiCache publishes host metrics per node, not per replication group). */
  redisNodeCount: number;
}

/** Every alarm the stack gets, derived from its sizes. */
export function alarmSpecs(inputs: AlarmInputs): AlarmSpec[] {
  const T = THRESHOLDS;
  const slotCapBytes = inputs.maxSlotWalKeepSizeMb * 1024 * 1024;
  const specs: AlarmSpec[] = [];
  const dbInstances: AlarmTarget[] = [{ kind: "db-primary" }];
  for (let i = 0; i < inputs.replicaCount; i++) dbInstances.push({ kind: "db-replica", index: i });

  for (const target of dbInstances) {
    const label = target.kind === "db-replica" ? `replica-${target.index + 1}` : "primary";
    specs.push({
      key: `rds-cpu-${label}`, runbook: "rds-cpu", description: `RDS ${label} CPU > ${T.rdsCpuPercent}% for 10 minutes`, target,
      namespace: "AWS/RDS", metricName: "CPUUtilization", statistic: "Average",
      period: 300, evaluationPeriods: 2, datapointsToAlarm: 2, comparison: "GreaterThanThreshold", threshold: T.rdsCpuPercent, treatMissingData: "missing",
    });
    specs.push({
      key: `rds-free-storage-${label}`, runbook: "rds-free-storage", description: `RDS ${label} free storage < ${T.rdsFreeStorageFraction * 100}% of ${inputs.allocatedStorageGb} GiB`, target,
      namespace: "AWS/RDS", metricName: "FreeStorageSpace", statistic: "Minimum",
      period: 300, evaluationPeriods: 1, datapointsToAlarm: 1, comparison: "LessThanThreshold", threshold: Math.round(inputs.allocatedStorageGb * GIB * T.rdsFreeStorageFraction), treatMissingData: "missing",
    });
  }
  for (let i = 0; i < inputs.replicaCount; i++) {
    const target: AlarmTarget = { kind: "db-replica", index: i };
    specs.push({
      key: `rds-replica-lag-replica-${i + 1}`, runbook: "rds-replica-lag", description: `Replica ${i + 1} lag > ${T.replicaLagSeconds}s for 2 minutes (eventual reads fall back to the primary)`, target,
      namespace: "AWS/RDS", metricName: "ReplicaLag", statistic: "Maximum",
      period: 60, evaluationPeriods: 2, datapointsToAlarm: 2, comparison: "GreaterThanThreshold", threshold: T.replicaLagSeconds, treatMissingData: "breaching",
    });
    specs.push({
      key: `rds-replica-lag-critical-replica-${i + 1}`, runbook: "rds-replica-lag", description: `Replica ${i + 1} lag > ${T.replicaLagCriticalSeconds}s`, target,
      namespace: "AWS/RDS", metricName: "ReplicaLag", statistic: "Maximum",
      period: 60, evaluationPeriods: 1, datapointsToAlarm: 1, comparison: "GreaterThanThreshold", threshold: T.replicaLagCriticalSeconds, treatMissingData: "breaching",
    });
  }
  specs.push({
    key: "rds-replication-slot-lag", runbook: "rds-replication-slot-lag", description: `Oldest replication slot retains > ${T.replicationSlotLagFractionOfCap * 100}% of max_slot_wal_keep_size (${inputs.maxSlotWalKeepSizeMb} MB): the Debezium connector is not reading`, target: { kind: "db-primary" },
    namespace: "AWS/RDS", metricName: "OldestReplicationSlotLag", statistic: "Maximum",
    period: 300, evaluationPeriods: 2, datapointsToAlarm: 2, comparison: "GreaterThanThreshold", threshold: Math.round(slotCapBytes * T.replicationSlotLagFractionOfCap), treatMissingData: "missing",
  });
  specs.push({
    key: "rds-transaction-logs-disk", runbook: "rds-replication-slot-lag", description: `WAL on disk > ${inputs.maxSlotWalKeepSizeMb} MB (the slot cap)`, target: { kind: "db-primary" },
    namespace: "AWS/RDS", metricName: "TransactionLogsDiskUsage", statistic: "Maximum",
    period: 300, evaluationPeriods: 2, datapointsToAlarm: 2, comparison: "GreaterThanThreshold", threshold: Math.round(slotCapBytes * T.transactionLogsFractionOfCap), treatMissingData: "missing",
  });

  for (let n = 0; n < inputs.redisNodeCount; n++) {
    const target: AlarmTarget = { kind: "redis-node", index: n };
    const node = `node-${n + 1}`;
    specs.push(
      { key: `redis-cpu-${node}`, runbook: "redis-cpu", description: `Redis ${node} engine CPU > ${T.redisCpuPercent}% for 10 minutes`, target, namespace: "AWS/ElastiCache", metricName: "EngineCPUUtilization", statistic: "Average", period: 300, evaluationPeriods: 2, datapointsToAlarm: 2, comparison: "GreaterThanThreshold", threshold: T.redisCpuPercent, treatMissingData: "missing" },
      { key: `redis-memory-${node}`, runbook: "redis-memory", description: `Redis ${node} memory > ${T.redisMemoryPercent}% for 15 minutes`, target, namespace: "AWS/ElastiCache", metricName: "DatabaseMemoryUsagePercentage", statistic: "Average", period: 300, evaluationPeriods: 3, datapointsToAlarm: 3, comparison: "GreaterThanThreshold", threshold: T.redisMemoryPercent, treatMissingData: "missing" },
      { key: `redis-evictions-${node}`, runbook: "redis-memory", description: `Redis ${node} evicts > ${T.redisEvictionsPer5Min} keys per 5 minutes for 15 minutes`, target, namespace: "AWS/ElastiCache", metricName: "Evictions", statistic: "Sum", period: 300, evaluationPeriods: 3, datapointsToAlarm: 3, comparison: "GreaterThanThreshold", threshold: T.redisEvictionsPer5Min, treatMissingData: "notBreaching" },
    );
  }

  for (const { group, topics } of CONSUMER_GROUPS) {
    for (const topic of topics) {
      const target: AlarmTarget = { kind: "kafka", group, topic };
      specs.push(
        { key: `kafka-consumer-lag-${group}-${topic}`, runbook: "kafka-consumer-lag", description: `${group} is > ${T.consumerLagMessages} messages behind on ${topic} for 15 minutes`, target, namespace: "AWS/Kafka", metricName: "SumOffsetLag", statistic: "Maximum", period: 300, evaluationPeriods: 3, datapointsToAlarm: 3, comparison: "GreaterThanThreshold", threshold: T.consumerLagMessages, treatMissingData: "missing" },
        { key: `kafka-consumer-lag-critical-${group}-${topic}`, runbook: "kafka-consumer-lag", description: `${group} is > ${T.consumerLagCriticalMessages} messages behind on ${topic}`, target, namespace: "AWS/Kafka", metricName: "SumOffsetLag", statistic: "Maximum", period: 300, evaluationPeriods: 1, datapointsToAlarm: 1, comparison: "GreaterThanThreshold", threshold: T.consumerLagCriticalMessages, treatMissingData: "missing" },
      );
    }
  }

  specs.push({
    key: "alb-5xx-rate", runbook: "alb-5xx", description: `More than ${T.alb5xxPercent}% of requests answered 5xx (ALB or targets) for 3 minutes`, target: { kind: "alb" },
    namespace: "AWS/ApplicationELB", metricName: "HTTPCode_Target_5XX_Count", statistic: "Sum",
    expression: { expression: "100 * (FILL(m1, 0) + FILL(m3, 0)) / MAX([FILL(m2, 0), 1])", metrics: { m2: "RequestCount", m3: "HTTPCode_ELB_5XX_Count" } },
    period: 60, evaluationPeriods: 3, datapointsToAlarm: 3, comparison: "GreaterThanThreshold", threshold: T.alb5xxPercent, treatMissingData: "notBreaching",
  });
  for (const service of HTTP_SERVICES) {
    specs.push({
      key: `alb-latency-p99-${service}`, runbook: "alb-latency", description: `${service} p99 response time > ${T.p99LatencySeconds[service]}s for 5 minutes`, target: { kind: "target-group", service },
      namespace: "AWS/ApplicationELB", metricName: "TargetResponseTime", extendedStatistic: "p99",
      period: 60, evaluationPeriods: 5, datapointsToAlarm: 5, comparison: "GreaterThanThreshold", threshold: T.p99LatencySeconds[service], treatMissingData: "notBreaching",
    });
  }
  for (const service of SERVICE_NAMES) {
    specs.push({
      key: `ecs-cpu-${service}`, runbook: "ecs-cpu", description: `${service} CPU > ${T.ecsCpuPercent}% for 15 minutes`, target: { kind: "ecs-service", service },
      namespace: "AWS/ECS", metricName: "CPUUtilization", statistic: "Average",
      period: 300, evaluationPeriods: 3, datapointsToAlarm: 3, comparison: "GreaterThanThreshold", threshold: T.ecsCpuPercent, treatMissingData: "missing",
    });
  }
  const writer: AlarmTarget = { kind: "log-metric", service: "batch-writer" };
  specs.push(
    {
      key: "partition-default-rows", runbook: "partition-maintenance", description: "Rows remain in the history's default partition after partition maintenance", target: writer,
      namespace: APP_NAMESPACE, metricName: "HistoryDefaultPartitionRows", statistic: "Maximum",
      period: 3600, evaluationPeriods: 1, datapointsToAlarm: 1, comparison: "GreaterThanThreshold", threshold: 0, treatMissingData: "notBreaching",
    },
    {
      key: "partitions-ahead", runbook: "partition-maintenance", description: `Fewer than ${T.partitionsAheadDaysMin} days of history partitions made ahead`, target: writer,
      namespace: APP_NAMESPACE, metricName: "PartitionsAheadDays", statistic: "Minimum",
      period: 3600, evaluationPeriods: 1, datapointsToAlarm: 1, comparison: "LessThanThreshold", threshold: T.partitionsAheadDaysMin, treatMissingData: "missing",
    },
    {
      key: "partition-maintenance-stale", runbook: "partition-maintenance", description: `No successful partition maintenance run for ${T.partitionMaintenanceStaleHours} hours`, target: writer,
      namespace: APP_NAMESPACE, metricName: "PartitionMaintenanceRuns", statistic: "Sum",
      period: 3600, evaluationPeriods: T.partitionMaintenanceStaleHours, datapointsToAlarm: T.partitionMaintenanceStaleHours, comparison: "LessThanThreshold", threshold: 1,
      // No line is exactly the failure this alarm is for.
      treatMissingData: "breaching",
    },
    {
      // Ours: two runs in a row (30 minutes) so a difference that a late
      // batch is about to fix does not page.
      key: "reconcile-differences", runbook: "reconcile", description: "Primary and warehouse disagree (counts or checksums) on some tenant-day for two reconcile runs in a row",
      target: { kind: "log-metric", service: "cdc-loader" },
      namespace: APP_NAMESPACE, metricName: "ReconcileDifferences", statistic: "Minimum",
      period: 900, evaluationPeriods: 2, datapointsToAlarm: 2, comparison: "GreaterThanThreshold", threshold: 0, treatMissingData: "missing",
    },
    {
      key: "analytics-lag", runbook: "analytics-lag", description: `Analytics (the warehouse) more than ${T.analyticsLagSeconds / 60} minutes behind the primary for 15 minutes`,
      target: { kind: "log-metric", service: "cdc-loader" },
      namespace: APP_NAMESPACE, metricName: "AnalyticsLagSeconds", statistic: "Maximum",
      period: 300, evaluationPeriods: 3, datapointsToAlarm: 3, comparison: "GreaterThanThreshold", threshold: T.analyticsLagSeconds,
      // The loader reports once a minute; silence means it is down or has never loaded.
      treatMissingData: "breaching",
    },
    {
      // Ours: 3 minutes in a row, so one slow receiver's burst does not page.
      key: "webhook-processing-lag", runbook: "webhook-processing-lag", description: `Webhook processing lag p95 (commit → send) > ${T.webhookProcessingLagSeconds / 60} minutes for 3 minutes`,
      target: writer,
      namespace: APP_NAMESPACE, metricName: "WebhookProcessingLagP95Seconds", statistic: "Maximum",
      period: 60, evaluationPeriods: 3, datapointsToAlarm: 3, comparison: "GreaterThanThreshold", threshold: T.webhookProcessingLagSeconds,
      // A minute without deliveries logs nothing: no webhooks is not late webhooks.
      treatMissingData: "notBreaching",
    },
  );
  return specs;
}
