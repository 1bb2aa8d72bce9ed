import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { ServiceName } from "../../app/shared/config";
import type { ServiceSizing } from "../config";
import type { ContainerSettings } from "./container-settings";
import { SERVICE_COMMANDS, CONTAINER_PORT } from "./entrypoints";
import { fargateSizeProblem } from "./fargate-sizing";
import { AUTOSCALING_CPU_TARGET } from "../monitoring/thresholds";

export interface FargateServiceArgs {
  service: ServiceName;
  sizing: ServiceSizing;
  imageUri: pulumi.Input<string>;
  clusterArn: pulumi.Input<string>;
  clusterName: pulumi.Input<string>;
  subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  securityGroupId: pulumi.Input<string>;
  settings: ContainerSettings;
  /** Secrets the execution role may read: exactly those in `settings.secrets`. */
  secretArns: pulumi.Input<string>[];
  kmsKeyArn: pulumi.Input<string>;
  region: string;
  logRetentionDays: number;
  /** Register tasks in this ALB target group (the HTTP services). */
  targetGroupArn?: pulumi.Input<string>;
  /** IAM policy JSON of the AWS calls the service itself makes (the CDC loader's S3 staging). Defaults to none. */
  taskRolePolicy?: pulumi.Input<string>;
}

/**
 * One ECS Fargate service: log group, execution role limited to its own
 * secrets, task definition (plain @pulumi/aws so every property shows in a
 * preview and in the tests), the service, and CPU target-tracking autoscaling.
 */
export class FargateService extends pulumi.ComponentResource {
  public readonly serviceName: pulumi.Output<string>;
  public readonly taskDefinitionArn: pulumi.Output<string>;
  public readonly logGroupName: pulumi.Output<string>;

  constructor(name: string, args: FargateServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas:services:FargateService", name, {}, opts);
    const { service, sizing } = args;
    const sizeProblem = fargateSizeProblem(sizing.cpu, sizing.memory);
    if (sizeProblem) throw new Error(`FargateService ${service}: ${sizeProblem}`);
    if (args.secretArns.length !== args.settings.secrets.length) {
      throw new Error(`FargateService ${service}: pass one secret ARN per entry of settings.secrets (the execution role may read only those).`);
    }

    const logGroup = new aws.cloudwatch.LogGroup(`${name}-logs`, { name: `/atlas/${pulumi.getStack()}/${service}`, retentionInDays: args.logRetentionDays }, { parent: this });
    this.logGroupName = logGroup.name;

    const executionRole = new aws.iam.Role(`${name}-exec`, {
      assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({ Service: "ecs-tasks.amazonaws.com" }),
    }, { parent: this });
    new aws.iam.RolePolicyAttachment(`${name}-exec`, {
      role: executionRole.name,
      policyArn: "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
    }, { parent: this });
    if (args.secretArns.length > 0) {
      new aws.iam.RolePolicy(`${name}-secrets`, {
        role: executionRole.id,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: args.secretArns },
            { Effect: "Allow", Action: ["kms:Decrypt"], Resource: [args.kmsKeyArn] },
          ],
        }),
      }, { parent: this });
    }
    // The task role holds only what the service's own code calls (most call no AWS API);
    // it exists for every service so a grant never replaces the tasks' identity.
    const taskRole = new aws.iam.Role(`${name}-task`, {
      assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({ Service: "ecs-tasks.amazonaws.com" }),
    }, { parent: this });
    if (args.taskRolePolicy !== undefined) {
      new aws.iam.RolePolicy(`${name}-task-policy`, { role: taskRole.id, policy: args.taskRolePolicy }, { parent: this });
    }

    const isHttp = args.targetGroupArn !== undefined;
    const containerDefinitions = pulumi.jsonStringify([{
      name: service,
      image: args.imageUri,
      essential: true,
      command: [...SERVICE_COMMANDS[service]],
      portMappings: isHttp ? [{ containerPort: CONTAINER_PORT, protocol: "tcp" }] : [],
      environment: args.settings.environment,
      secrets: args.settings.secrets,
      // SIGTERM drain (flush batches, commit offsets) gets 30 s before SIGKILL.
      stopTimeout: 30,
      logConfiguration: {
        logDriver: "awslogs",
        options: { "awslogs-group": logGroup.name, "awslogs-region": args.region, "awslogs-stream-prefix": service },
      },
    }]);

    const taskDefinition = new aws.ecs.TaskDefinition(`${name}-task`, {
      family: `atlas-${pulumi.getStack()}-${service}`,
      requiresCompatibilities: ["FARGATE"],
      networkMode: "awsvpc",
      cpu: String(sizing.cpu),
      memory: String(sizing.memory),
      runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
      executionRoleArn: executionRole.arn,
      taskRoleArn: taskRole.arn,
      containerDefinitions,
    }, { parent: this });

    const ecsService = new aws.ecs.Service(`${name}-svc`, {
      cluster: args.clusterArn,
      taskDefinition: taskDefinition.arn,
      desiredCount: sizing.desiredCount,
      launchType: "FARGATE",
      networkConfiguration: { subnets: args.subnetIds, securityGroups: [args.securityGroupId], assignPublicIp: false },
      loadBalancers: isHttp ? [{ targetGroupArn: args.targetGroupArn!, containerName: service, containerPort: CONTAINER_PORT }] : [],
      healthCheckGracePeriodSeconds: isHttp ? 60 : undefined,
      deploymentCircuitBreaker: { enable: true, rollback: true },
      // The CDC loader must never run twice at once (ordered apply): stop the old task before starting the new one.
      deploymentMinimumHealthyPercent: sizing.maxCount === 1 ? 0 : 100,
      deploymentMaximumPercent: sizing.maxCount === 1 ? 100 : 200,
      propagateTags: "SERVICE",
      enableEcsManagedTags: true,
      waitForSteadyState: false,
    }, { parent: this, ignoreChanges: sizing.maxCount > sizing.minCount ? ["desiredCount"] : [] });

    if (sizing.maxCount > sizing.minCount) {
      const target = new aws.appautoscaling.Target(`${name}-scaling`, {
        serviceNamespace: "ecs",
        scalableDimension: "ecs:service:DesiredCount",
        resourceId: pulumi.interpolate`service/${args.clusterName}/${ecsService.name}`,
        minCapacity: sizing.minCount,
        maxCapacity: sizing.maxCount,
      }, { parent: this });
      new aws.appautoscaling.Policy(`${name}-cpu`, {
        policyType: "TargetTrackingScaling",
        serviceNamespace: target.serviceNamespace,
        scalableDimension: target.scalableDimension,
        resourceId: target.resourceId,
        targetTrackingScalingPolicyConfiguration: {
          predefinedMetricSpecification: { predefinedMetricType: "ECSServiceAverageCPUUtilization" },
          targetValue: AUTOSCALING_CPU_TARGET,
          scaleInCooldown: 120,
          scaleOutCooldown: 60,
        },
      }, { parent: this });
    }

    this.serviceName = ecsService.name;
    this.taskDefinitionArn = taskDefinition.arn;
    this.registerOutputs({ serviceName: this.serviceName, taskDefinitionArn: this.taskDefinitionArn });
  }
}
