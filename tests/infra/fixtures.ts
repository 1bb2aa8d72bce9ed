/**
 * Shared pieces of the program tests: resource type tokens, the mocks' fixed
 * ids, container definitions, taggability, and one program run per stack
 * shared by every test file (the run is deterministic; repeating it only costs time).
 */
import * as aws from "@pulumi/aws";
import type { ServiceName } from "../../app/shared/config";
import { readStackConfig, type StackConfig } from "../../infra/config";
import { configSource, loadStackConfig, one, runProgram, type ProgramRun, type RecordedResource } from "./harness";

export const T = {
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
  logMetricFilter: "aws:cloudwatch/logMetricFilter:LogMetricFilter",
  lb: "aws:lb/loadBalancer:LoadBalancer",
  listener: "aws:lb/listener:Listener",
  rule: "aws:lb/listenerRule:ListenerRule",
  targetGroup: "aws:lb/targetGroup:TargetGroup",
  scaling: "aws:appautoscaling/target:Target",
  vpc: "awsx:ec2:Vpc",
  bucket: "aws:s3/bucket:Bucket",
  bucketLifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
  role: "aws:iam/role:Role",
  bucketSse: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  bucketPab: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
};
export const PRIVATE = ["subnet-private-a", "subnet-private-b", "subnet-private-c"];
export const PUBLIC = ["subnet-public-a", "subnet-public-b", "subnet-public-c"];

/** The mock gives every resource the id `<name>-id`. */
export const sgId = (suffix: string) => `atlas-sg-${suffix}-id`;

export interface ContainerDef { name: string; command: string[]; environment: { name: string; value: string }[]; secrets: { name: string; valueFrom: string }[] }
export const containerOf = (task: RecordedResource): ContainerDef => (JSON.parse(task.inputs.containerDefinitions as string) as ContainerDef[])[0];
export const taskOf = (run: ProgramRun, service: ServiceName) => one(run, T.task, `atlas-${service}-task`);

/** Does the @pulumi/aws class for this type token take a `tags` input? (Generated classes always pass the key.) */
export function isTaggable(type: string): boolean {
  const m = /^aws:([^/:]+)\/[^:]+:(\w+)$/.exec(type);
  if (!m) return false;
  const mod = (aws as unknown as Record<string, Record<string, unknown>>)[m[1]];
  const cls = mod?.[m[2]];
  if (typeof cls !== "function") throw new Error(`cannot find class for ${type}`);
  return cls.toString().includes('resourceInputs["tags"]');
}

export const STACKS = ["dev", "prod"] as const;
export type StackName = (typeof STACKS)[number];

const runs = new Map<StackName, Promise<{ run: ProgramRun; cfg: StackConfig }>>();

/** The program run with the stack's own yaml and the fake secrets, once per stack per mocha process. */
export function stackRun(stack: StackName): Promise<{ run: ProgramRun; cfg: StackConfig }> {
  let p = runs.get(stack);
  if (!p) {
    p = runProgram(stack).then((run) => ({ run, cfg: readStackConfig(configSource(loadStackConfig(stack)), "atlas-telemetry", stack) }));
    runs.set(stack, p);
  }
  return p;
}
