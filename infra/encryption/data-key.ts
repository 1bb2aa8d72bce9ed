import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";

export interface DataKeyArgs {
  /** Days before a deleted key is destroyed. Defaults to 30 (the maximum: a mistaken delete stays recoverable). */
  deletionWindowInDays?: number;
}

/**
 * One customer-managed KMS key for the stack's data at rest (RDS, Redis, MSK,
 * Redshift, S3, Secrets Manager). A customer key, not the AWS-managed
 * defaults, so access is revocable in one place and rotation is on.
 */
export class DataKey extends pulumi.ComponentResource {
  public readonly arn: pulumi.Output<string>;
  public readonly keyId: pulumi.Output<string>;

  constructor(name: string, args: DataKeyArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super("atlas:encryption:DataKey", name, {}, opts);
    const key = new aws.kms.Key(`${name}-kms`, {
      description: `Atlas ${pulumi.getStack()} data at rest`,
      enableKeyRotation: true,
      deletionWindowInDays: args.deletionWindowInDays ?? 30,
    }, { parent: this });
    new aws.kms.Alias(`${name}-alias`, { name: `alias/${name}-${pulumi.getStack()}`, targetKeyId: key.keyId }, { parent: this });
    this.arn = key.arn;
    this.keyId = key.keyId;
    this.registerOutputs({ arn: this.arn, keyId: this.keyId });
  }
}
