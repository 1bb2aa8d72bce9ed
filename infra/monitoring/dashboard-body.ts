/**
 * The CloudWatch dashboard: one row per tier, the metrics the alarms watch
 * plus the ones an on-call reads next (seed 001 "Operational Excellence §1").
 * Pure, from resolved identifiers.
 */
import { HTTP_SERVICES, CONSUMER_GROUPS } from "../services/entrypoints";
import { SERVICE_NAMES } from "../../app/shared/config";

export interface DashboardIds {
  region: string;
  dbPrimary: string;
  dbReplicas: string[];
  redisNodes: string[];
  kafkaCluster: string;
  albArnSuffix: string;
  targetGroupArnSuffixes: Record<(typeof HTTP_SERVICES)[number], string>;
  ecsCluster: string;
  ecsServices: Record<(typeof SERVICE_NAMES)[number], string>;
}

type Metric = (string | Record<string, unknown>)[];

export function dashboardBody(ids: DashboardIds): { widgets: unknown[] } {
  const widgets: unknown[] = [];
  let y = 0;
  const row = (...all: { title: string; metrics: Metric[]; stat?: string }[]) => {
    // PutDashboard refuses a metric widget without metrics (e.g. replica lag on a stack with no replicas).
    const panels = all.filter((p) => p.metrics.length > 0);
    panels.forEach((p, i) => {
      widgets.push({
        type: "metric", x: i * 8, y, width: 8, height: 6,
        properties: { title: p.title, region: ids.region, view: "timeSeries", stat: p.stat ?? "Average", period: 60, metrics: p.metrics },
      });
    });
    y += 6;
  };
  const dbs = [ids.dbPrimary, ...ids.dbReplicas];
  row(
    { title: "RDS CPU %", metrics: dbs.map((d) => ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", d]) },
    { title: "Replica lag (s)", stat: "Maximum", metrics: ids.dbReplicas.map((d) => ["AWS/RDS", "ReplicaLag", "DBInstanceIdentifier", d]) },
    { title: "Replication slot lag / WAL on disk (bytes)", stat: "Maximum", metrics: [
      ["AWS/RDS", "OldestReplicationSlotLag", "DBInstanceIdentifier", ids.dbPrimary],
      ["AWS/RDS", "TransactionLogsDiskUsage", "DBInstanceIdentifier", ids.dbPrimary],
    ] },
  );
  row(
    { title: "RDS free storage (bytes)", stat: "Minimum", metrics: dbs.map((d) => ["AWS/RDS", "FreeStorageSpace", "DBInstanceIdentifier", d]) },
    { title: "RDS connections", metrics: dbs.map((d) => ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", d]) },
    { title: "Redis CPU % / memory %", metrics: ids.redisNodes.flatMap((n) => [
      ["AWS/ElastiCache", "EngineCPUUtilization", "CacheClusterId", n],
      ["AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "CacheClusterId", n],
    ]) },
  );
  row(
    { title: "Redis hit/miss, evictions", stat: "Sum", metrics: ids.redisNodes.flatMap((n) => [
      ["AWS/ElastiCache", "CacheHits", "CacheClusterId", n],
      ["AWS/ElastiCache", "CacheMisses", "CacheClusterId", n],
      ["AWS/ElastiCache", "Evictions", "CacheClusterId", n],
    ]) },
    { title: "Kafka consumer lag (messages)", stat: "Maximum", metrics: CONSUMER_GROUPS.flatMap(({ group, topics }) =>
      topics.map((t) => ["AWS/Kafka", "SumOffsetLag", "Cluster Name", ids.kafkaCluster, "Consumer Group", group, "Topic", t])) },
    { title: "ALB requests / 5xx", stat: "Sum", metrics: [
      ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", ids.albArnSuffix],
      ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", ids.albArnSuffix],
      ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", ids.albArnSuffix],
    ] },
  );
  row(
    { title: "Target response time p99 (s)", stat: "p99", metrics: HTTP_SERVICES.map((s) =>
      ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", ids.albArnSuffix, "TargetGroup", ids.targetGroupArnSuffixes[s], { label: s }]) },
    { title: "ECS CPU %", metrics: SERVICE_NAMES.map((s) => ["AWS/ECS", "CPUUtilization", "ClusterName", ids.ecsCluster, "ServiceName", ids.ecsServices[s], { label: s }]) },
    { title: "ECS memory %", metrics: SERVICE_NAMES.map((s) => ["AWS/ECS", "MemoryUtilization", "ClusterName", ids.ecsCluster, "ServiceName", ids.ecsServices[s], { label: s }]) },
  );
  return { widgets };
}
