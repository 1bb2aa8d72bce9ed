import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { CONTAINER_PORT, HEALTH_CHECK_PATH, HTTP_SERVICES, INGEST_PATH_PATTERNS, type HttpServiceName } from "./entrypoints";

export interface LoadBalancerArgs {
  vpcId: pulumi.Input<string>;
  publicSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  securityGroupId: pulumi.Input<string>;
  /** ACM certificate: HTTPS on 443 and HTTP redirected to it. Without one, plain HTTP on 80. */
  certificateArn?: string;
}

/** TLS 1.3 / 1.2 only (AWS docs, "Security policies for your Application Load Balancer"). */
export const SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/**
 * The internet-facing ALB, the platform's only public entry. Routes
 * `/v1/telemetry*`, `/v1/attributes*` and `/v1/imports*` (INGEST_PATH_PATTERNS)
 * to the ingest API and everything else to the query API, as `npm start`
 * routes them locally. An import is one long upload: its bytes keep the
 * connection busy, so the 60 s idle timeout holds for it too.
 */
export class LoadBalancer extends pulumi.ComponentResource {
  public readonly url: pulumi.Output<string>;
  public readonly arnSuffix: pulumi.Output<string>;
  public readonly targetGroups: Record<HttpServiceName, aws.lb.TargetGroup>;

  constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas:services:LoadBalancer", name, {}, opts);
    const alb = new aws.lb.LoadBalancer(`${name}-alb`, {
      loadBalancerType: "application",
      internal: false,
      securityGroups: [args.securityGroupId],
      subnets: args.publicSubnetIds,
      dropInvalidHeaderFields: true,
      idleTimeout: 60,
    }, { parent: this });

    this.targetGroups = Object.fromEntries(HTTP_SERVICES.map((service) => [service, new aws.lb.TargetGroup(`${name}-${service}`, {
      port: CONTAINER_PORT,
      protocol: "HTTP",
      targetType: "ip",
      vpcId: args.vpcId,
      deregistrationDelay: 30,
      healthCheck: { path: HEALTH_CHECK_PATH, matcher: "200", interval: 15, timeout: 5, healthyThreshold: 2, unhealthyThreshold: 3 },
    }, { parent: this })])) as Record<HttpServiceName, aws.lb.TargetGroup>;

    const forwardTo = (service: HttpServiceName) => ({ type: "forward", targetGroupArn: this.targetGroups[service].arn });
    let main: aws.lb.Listener;
    if (args.certificateArn) {
      main = new aws.lb.Listener(`${name}-https`, {
        loadBalancerArn: alb.arn, port: 443, protocol: "HTTPS", sslPolicy: SSL_POLICY, certificateArn: args.certificateArn,
        defaultActions: [forwardTo("query-api")],
      }, { parent: this });
      new aws.lb.Listener(`${name}-http`, {
        loadBalancerArn: alb.arn, port: 80, protocol: "HTTP",
        defaultActions: [{ type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } }],
      }, { parent: this });
    } else {
      main = new aws.lb.Listener(`${name}-http`, {
        loadBalancerArn: alb.arn, port: 80, protocol: "HTTP",
        defaultActions: [forwardTo("query-api")],
      }, { parent: this });
    }
    new aws.lb.ListenerRule(`${name}-ingest`, {
      listenerArn: main.arn,
      priority: 10,
      conditions: [{ pathPattern: { values: [...INGEST_PATH_PATTERNS] } }],
      actions: [forwardTo("ingest-api")],
    }, { parent: this });

    this.url = pulumi.interpolate`${args.certificateArn ? "https" : "http"}://${alb.dnsName}`;
    this.arnSuffix = alb.arnSuffix;
    this.registerOutputs({ url: this.url, arnSuffix: this.arnSuffix });
  }
}
