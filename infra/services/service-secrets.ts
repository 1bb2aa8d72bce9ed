import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { SECRET_SETTINGS, type SecretSettingName } from "../../app/shared/config";
import { serviceUrls } from "./service-urls";

export interface ServiceSecretsArgs {
  db: { host: pulumi.Input<string>; port: number; name: string; username: string; password: pulumi.Input<string>; replicaHosts: pulumi.Input<string>[] };
  redis: { host: pulumi.Input<string>; port: number; authToken: pulumi.Input<string> };
  warehouse: { host: pulumi.Input<string>; port: number; name: string; username: string; password: pulumi.Input<string> };
  kmsKeyArn: pulumi.Input<string>;
  /** WEBHOOK_SECRET_KEY, from the stack's secret config (not a URL: no resource makes it). */
  webhookSecretKey: pulumi.Input<string>;
}

/**
 * One Secrets Manager secret per secret setting (DATABASE_URL, REDIS_URL, …),
 * so each service's execution role can be limited to the settings it uses.
 * Values are composed from resource outputs and the stack's secret config,
 * and stay marked secret: encrypted in the Pulumi state, never in a diff.
 */
export class ServiceSecrets extends pulumi.ComponentResource {
  /** Secret ARN per setting, for ECS `secrets[].valueFrom`. */
  public readonly arns: Record<SecretSettingName, pulumi.Output<string>>;

  constructor(name: string, args: ServiceSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas:services:ServiceSecrets", name, {}, opts);
    const urls = pulumi
      .all([args.db.host, args.db.password, pulumi.all(args.db.replicaHosts), args.redis.host, args.redis.authToken, args.warehouse.host, args.warehouse.password])
      .apply(([dbHost, dbPassword, replicaHosts, redisHost, redisToken, whHost, whPassword]) =>
        serviceUrls({
          db: { host: dbHost, port: args.db.port, name: args.db.name, username: args.db.username, password: dbPassword, replicaHosts },
          redis: { host: redisHost, port: args.redis.port, authToken: redisToken },
          warehouse: { host: whHost, port: args.warehouse.port, name: args.warehouse.name, username: args.warehouse.username, password: whPassword },
        }));

    const arns = {} as Record<SecretSettingName, pulumi.Output<string>>;
    for (const setting of SECRET_SETTINGS) {
      const slug = setting.toLowerCase().replace(/_/g, "-");
      const secret = new aws.secretsmanager.Secret(`${name}-${slug}`, {
        description: `Atlas ${setting} for the ECS services`,
        kmsKeyId: args.kmsKeyArn,
        recoveryWindowInDays: 7,
      }, { parent: this });
      new aws.secretsmanager.SecretVersion(`${name}-${slug}`, {
        secretId: secret.id,
        secretString: pulumi.secret(setting === "WEBHOOK_SECRET_KEY" ? args.webhookSecretKey : urls[setting]),
      }, { parent: this });
      arns[setting] = secret.arn;
    }
    this.arns = arns;
    this.registerOutputs({});
  }
}
