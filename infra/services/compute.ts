import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as awsx from "@pulumi/awsx";

export interface ComputeArgs {
  /** Build context (the repository root, relative to the Pulumi project directory). Defaults to ".". */
  context?: string;
  /** Defaults to "Dockerfile" in the context. */
  dockerfile?: string;
}

/**
 * The ECS cluster and the one image all four services run, built from the
 * repository's Dockerfile and pushed to a private ECR repository.
 */
export class Compute extends pulumi.ComponentResource {
  public readonly clusterArn: pulumi.Output<string>;
  public readonly clusterName: pulumi.Output<string>;
  public readonly imageUri: pulumi.Output<string>;

  constructor(name: string, args: ComputeArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super("atlas:services:Compute", name, {}, opts);
    const repository = new aws.ecr.Repository(`${name}-ecr`, {
      imageTagMutability: "IMMUTABLE",
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfigurations: [{ encryptionType: "KMS" }],
      forceDelete: false,
    }, { parent: this });
    new aws.ecr.LifecyclePolicy(`${name}-ecr`, {
      repository: repository.name,
      policy: JSON.stringify({
        rules: [{ rulePriority: 1, description: "keep the last 30 images", selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 30 }, action: { type: "expire" } }],
      }),
    }, { parent: this });
    const context = args.context ?? ".";
    const image = new awsx.ecr.Image(`${name}-image`, {
      repositoryUrl: repository.repositoryUrl,
      context,
      dockerfile: args.dockerfile ?? `${context}/Dockerfile`,
      platform: "linux/amd64",
    }, { parent: this });

    const cluster = new aws.ecs.Cluster(`${name}-ecs`, {
      settings: [{ name: "containerInsights", value: "enabled" }],
    }, { parent: this });

    this.clusterArn = cluster.arn;
    this.clusterName = cluster.name;
    this.imageUri = image.imageUri;
    this.registerOutputs({ clusterArn: this.clusterArn, clusterName: this.clusterName, imageUri: this.imageUri });
  }
}
