import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";

export interface DatabaseProxyArgs {
  primaryIdentifier: pulumi.Input<string>;
  /** Secret (JSON username/password) the proxy logs in with. */
  credentialsSecretArn: pulumi.Input<string>;
  kmsKeyArn: pulumi.Input<string>;
  subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  securityGroupId: pulumi.Input<string>;
}

/**
 * RDS Proxy in front of the primary: pools the services' connections and
 * keeps them through a Multi-AZ failover. TLS required. Debezium does not go
 * through it (logical replication needs a direct connection).
 */
export class DatabaseProxy extends pulumi.ComponentResource {
  public readonly endpoint: pulumi.Output<string>;

  constructor(name: string, args: DatabaseProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas:database:DatabaseProxy", name, {}, opts);
    const role = new aws.iam.Role(`${name}-role`, {
      assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({ Service: "rds.amazonaws.com" }),
    }, { parent: this });
    new aws.iam.RolePolicy(`${name}-secret`, {
      role: role.id,
      policy: pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
          { Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: [args.credentialsSecretArn] },
          { Effect: "Allow", Action: ["kms:Decrypt"], Resource: [args.kmsKeyArn] },
        ],
      }),
    }, { parent: this });

    const proxy = new aws.rds.Proxy(`${name}`, {
      engineFamily: "POSTGRESQL",
      requireTls: true,
      idleClientTimeout: 1800,
      roleArn: role.arn,
      vpcSubnetIds: args.subnetIds,
      vpcSecurityGroupIds: [args.securityGroupId],
      auths: [{ authScheme: "SECRETS", iamAuth: "DISABLED", secretArn: args.credentialsSecretArn, clientPasswordAuthType: "POSTGRES_SCRAM_SHA_256" }],
    }, { parent: this });
    const targetGroup = new aws.rds.ProxyDefaultTargetGroup(`${name}-targets`, {
      dbProxyName: proxy.name,
      connectionPoolConfig: { maxConnectionsPercent: 90, maxIdleConnectionsPercent: 50, connectionBorrowTimeout: 120 },
    }, { parent: this });
    new aws.rds.ProxyTarget(`${name}-primary`, {
      dbProxyName: proxy.name,
      targetGroupName: targetGroup.name,
      dbInstanceIdentifier: args.primaryIdentifier,
    }, { parent: this });

    this.endpoint = proxy.endpoint;
    this.registerOutputs({ endpoint: this.endpoint });
  }
}
