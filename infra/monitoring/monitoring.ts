import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { ServiceName } from "../../app/shared/config";
import type { HttpServiceName } from "../services/entrypoints";
import { APP_NAMESPACE, LOG_METRICS, type AlarmSpec, type AlarmTarget } from "./thresholds";
import { dashboardBody } from "./dashboard-body";

export interface MonitoringArgs {
  specs: AlarmSpec[];
  region: string;
  /** Email subscribed to the alarm topic (confirm the subscription mail once). */
  alertEmail?: string;
  dbPrimaryIdentifier: pulumi.Input<string>;
  dbReplicaIdentifiers: pulumi.Input<string>[];
  redisReplicationGroupId: pulumi.Input<string>;
  redisNodeCount: number;
  kafkaClusterName: pulumi.Input<string>;
  albArnSuffix: pulumi.Input<string>;
  targetGroupArnSuffixes: Record<HttpServiceName, pulumi.Input<string>>;
  ecsClusterName: pulumi.Input<string>;
  ecsServiceNames: Record<ServiceName, pulumi.Input<string>>;
  /** Each service's CloudWatch log group (the log metric filters of LOG_METRICS read them). */
  logGroupNames: Record<ServiceName, pulumi.Input<string>>;
}

/** ElastiCache names the nodes of a cluster-mode-disabled group `<group id>-001`, `-002`, … */
const redisNodeId = (groupId: string, index: number) => `${groupId}-${String(index + 1).padStart(3, "0")}`;

/**
 * SNS topic for alarms (and an email subscription when configured), one
 * CloudWatch alarm per spec of thresholds.ts, and the stack's dashboard.
 */
export class Monitoring extends pulumi.ComponentResource {
  public readonly topicArn: pulumi.Output<string>;
  public readonly dashboardUrl: pulumi.Output<string>;
  public readonly alarmNames: pulumi.Output<string>[];

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas:monitoring:Monitoring", name, {}, opts);
    const keys = new Set<string>();
    for (const s of args.specs) {
      if (keys.has(s.key)) throw new Error(`Monitoring: duplicate alarm key "${s.key}"; keys name the alarms and must be unique.`);
      keys.add(s.key);
    }

    const topic = new aws.sns.Topic(`${name}-alerts`, {}, { parent: this });
    if (args.alertEmail) {
      new aws.sns.TopicSubscription(`${name}-alerts-email`, { topic: topic.arn, protocol: "email", endpoint: args.alertEmail }, { parent: this });
    }

    const dimensions = (t: AlarmTarget): pulumi.Input<Record<string, pulumi.Input<string>>> => {
      switch (t.kind) {
        case "db-primary": return { DBInstanceIdentifier: args.dbPrimaryIdentifier };
        case "db-replica": return { DBInstanceIdentifier: args.dbReplicaIdentifiers[t.index] };
        case "redis-node": return { CacheClusterId: pulumi.output(args.redisReplicationGroupId).apply((id) => redisNodeId(id, t.index)) };
        case "kafka": return { "Cluster Name": args.kafkaClusterName, "Consumer Group": t.group, Topic: t.topic };
        case "alb": return { LoadBalancer: args.albArnSuffix };
        case "target-group": return { LoadBalancer: args.albArnSuffix, TargetGroup: args.targetGroupArnSuffixes[t.service] };
        case "ecs-service": return { ClusterName: args.ecsClusterName, ServiceName: args.ecsServiceNames[t.service] };
        case "log-metric": return {};
      }
    };

    const stack = pulumi.getStack();
    const namespaceOf = (spec: AlarmSpec) => (spec.target.kind === "log-metric" ? `${spec.namespace}/${stack}` : spec.namespace);
    for (const m of LOG_METRICS) {
      new aws.cloudwatch.LogMetricFilter(`${name}-${m.service}-${m.metricName}`, {
        logGroupName: args.logGroupNames[m.service],
        pattern: m.pattern,
        metricTransformation: { name: m.metricName, namespace: `${APP_NAMESPACE}/${stack}`, value: m.value },
      }, { parent: this });
    }
    this.alarmNames = args.specs.map((spec) => {
      const common = {
        name: `atlas-${stack}-${spec.key}`,
        alarmDescription: `${spec.description}. Runbook: infra/README.md#alarm-${spec.runbook}`,
        comparisonOperator: spec.comparison,
        threshold: spec.threshold,
        evaluationPeriods: spec.evaluationPeriods,
        datapointsToAlarm: spec.datapointsToAlarm,
        treatMissingData: spec.treatMissingData,
        alarmActions: [topic.arn],
        okActions: [topic.arn],
      };
      const dims = dimensions(spec.target);
      const alarm = spec.expression
        ? new aws.cloudwatch.MetricAlarm(`${name}-${spec.key}`, {
          ...common,
          metricQueries: [
            { id: "e1", expression: spec.expression.expression, label: spec.key, returnData: true },
            ...Object.entries({ m1: spec.metricName, ...spec.expression.metrics }).map(([id, metricName]) => ({
              id, returnData: false,
              metric: { namespace: namespaceOf(spec), metricName, period: spec.period, stat: spec.statistic ?? "Sum", dimensions: dims },
            })),
          ],
        }, { parent: this })
        : new aws.cloudwatch.MetricAlarm(`${name}-${spec.key}`, {
          ...common,
          namespace: namespaceOf(spec),
          metricName: spec.metricName,
          statistic: spec.statistic,
          extendedStatistic: spec.extendedStatistic,
          period: spec.period,
          dimensions: dims,
        }, { parent: this });
      return alarm.name;
    });

    const dashboardName = `atlas-${stack}`;
    new aws.cloudwatch.Dashboard(`${name}-dashboard`, {
      dashboardName,
      dashboardBody: pulumi
        .all([args.dbPrimaryIdentifier, pulumi.all(args.dbReplicaIdentifiers), args.redisReplicationGroupId, args.kafkaClusterName, args.albArnSuffix, pulumi.all(args.targetGroupArnSuffixes), args.ecsClusterName, pulumi.all(args.ecsServiceNames)])
        .apply(([dbPrimary, dbReplicas, redisGroup, kafkaCluster, albArnSuffix, targetGroupArnSuffixes, ecsCluster, ecsServices]) =>
          JSON.stringify(dashboardBody({
            region: args.region, dbPrimary, dbReplicas, kafkaCluster, albArnSuffix, ecsCluster,
            redisNodes: Array.from({ length: args.redisNodeCount }, (_, i) => redisNodeId(redisGroup, i)),
            targetGroupArnSuffixes: targetGroupArnSuffixes as Record<HttpServiceName, string>,
            ecsServices: ecsServices as Record<ServiceName, string>,
          }))),
    }, { parent: this });

    this.topicArn = topic.arn;
    this.dashboardUrl = pulumi.output(`https://${args.region}.console.aws.amazon.com/cloudwatch/home?region=${args.region}#dashboards:name=${dashboardName}`);
    this.registerOutputs({ topicArn: this.topicArn, dashboardUrl: this.dashboardUrl });
  }
}
