import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { SERVICE_NAMES, type ServiceName, type SettingName } from "../../app/shared/config";
import { servicesUsing } from "../services/container-settings";
import { CONTAINER_PORT, HTTP_SERVICES } from "../services/entrypoints";

export interface SecurityGroupsArgs {
  vpcId: pulumi.Input<string>;
  /** Whether an RDS Proxy sits between the services and the primary. */
  proxyEnabled: boolean;
}

export const PORTS = { postgres: 5432, redis: 6379, kafkaTls: 9094, redshift: 5439, http: 80, https: 443 } as const;

const ANYWHERE = "0.0.0.0/0";

/**
 * Least-privilege security groups. Only the ALB accepts traffic from the
 * internet. Each data store accepts its port only from the services whose
 * settings (app/shared SERVICE_SETTINGS) say they use it, so a service that
 * gains a setting gains the network path in the same change. Rules are
 * separate resources (no inline rules), which avoids cycles between the ALB
 * and service groups and makes every rule visible in a preview.
 */
export class SecurityGroups extends pulumi.ComponentResource {
  public readonly alb: aws.ec2.SecurityGroup;
  public readonly services: Record<ServiceName, aws.ec2.SecurityGroup>;
  public readonly database: aws.ec2.SecurityGroup;
  public readonly proxy: aws.ec2.SecurityGroup;
  public readonly redis: aws.ec2.SecurityGroup;
  public readonly kafka: aws.ec2.SecurityGroup;
  public readonly connect: aws.ec2.SecurityGroup;
  public readonly warehouse: aws.ec2.SecurityGroup;

  private readonly name: string;

  constructor(name: string, args: SecurityGroupsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas:network:SecurityGroups", name, {}, opts);
    this.name = name;
    const group = (suffix: string, description: string) =>
      new aws.ec2.SecurityGroup(`${name}-${suffix}`, { vpcId: args.vpcId, description, revokeRulesOnDelete: true }, { parent: this });

    this.alb = group("alb", "Atlas ALB: HTTP/HTTPS from the internet");
    this.services = Object.fromEntries(SERVICE_NAMES.map((s) => [s, group(s, `Atlas ${s} tasks`)])) as Record<ServiceName, aws.ec2.SecurityGroup>;
    this.database = group("rds", "Atlas PostgreSQL primary and replicas");
    this.proxy = group("rds-proxy", "Atlas RDS Proxy");
    this.redis = group("redis", "Atlas ElastiCache Redis");
    this.kafka = group("msk", "Atlas MSK brokers");
    this.connect = group("msk-connect", "Atlas MSK Connect (Debezium) workers");
    this.warehouse = group("redshift", "Atlas Redshift");

    // Internet → ALB.
    for (const port of [PORTS.http, PORTS.https]) this.ingress(`alb-${port}`, this.alb, { cidr: ANYWHERE }, port, `internet to ALB ${port}`);
    // ALB → API tasks on the container port only.
    for (const s of HTTP_SERVICES) {
      this.ingress(`${s}-from-alb`, this.services[s], { group: this.alb }, CONTAINER_PORT, `ALB to ${s}`);
      this.egress(`alb-to-${s}`, this.alb, { group: this.services[s] }, CONTAINER_PORT, `ALB to ${s}`);
    }

    const uses = (...settings: SettingName[]) => [...new Set(settings.flatMap(servicesUsing))];
    // Data stores: each port from exactly the services that hold the setting.
    this.openStore("rds", this.database, PORTS.postgres, uses("DATABASE_URL", "DATABASE_REPLICA_URLS"));
    this.openStore("redis", this.redis, PORTS.redis, uses("REDIS_URL"));
    this.openStore("msk", this.kafka, PORTS.kafkaTls, uses("KAFKA_BROKERS"));
    this.openStore("redshift", this.warehouse, PORTS.redshift, uses("WAREHOUSE_URL"));
    if (args.proxyEnabled) {
      this.openStore("rds-proxy", this.proxy, PORTS.postgres, uses("DATABASE_URL"));
      this.ingress("rds-from-proxy", this.database, { group: this.proxy }, PORTS.postgres, "RDS Proxy to PostgreSQL");
      this.egress("proxy-to-rds", this.proxy, { group: this.database }, PORTS.postgres, "RDS Proxy to PostgreSQL");
    }
    // Debezium reads the primary's WAL and writes to the brokers.
    this.ingress("rds-from-connect", this.database, { group: this.connect }, PORTS.postgres, "Debezium to PostgreSQL");
    this.egress("connect-to-rds", this.connect, { group: this.database }, PORTS.postgres, "Debezium to PostgreSQL");
    this.ingress("msk-from-connect", this.kafka, { group: this.connect }, PORTS.kafkaTls, "Debezium to MSK (TLS)");
    this.egress("connect-to-msk", this.connect, { group: this.kafka }, PORTS.kafkaTls, "Debezium to MSK (TLS)");
    this.egress("connect-to-aws", this.connect, { cidr: ANYWHERE }, PORTS.https, "Secrets Manager, CloudWatch Logs via NAT");
    // Brokers replicate among themselves.
    this.ingress("msk-self", this.kafka, { group: this.kafka }, [0, 65535], "MSK broker to broker");
    this.egress("msk-self", this.kafka, { group: this.kafka }, [0, 65535], "MSK broker to broker");
    // Tasks call AWS APIs (ECR, Secrets Manager, CloudWatch) over HTTPS through NAT.
    for (const s of SERVICE_NAMES) this.egress(`${s}-to-aws`, this.services[s], { cidr: ANYWHERE }, PORTS.https, `${s} to AWS APIs`);
    // Redshift COPY/UNLOAD to S3 with enhanced VPC routing.
    this.egress("redshift-to-aws", this.warehouse, { cidr: ANYWHERE }, PORTS.https, "Redshift to S3");

    this.registerOutputs({});
  }

  private openStore(store: string, sg: aws.ec2.SecurityGroup, port: number, clients: ServiceName[]): void {
    for (const s of clients) {
      this.ingress(`${store}-from-${s}`, sg, { group: this.services[s] }, port, `${s} to ${store}`);
      this.egress(`${s}-to-${store}`, this.services[s], { group: sg }, port, `${s} to ${store}`);
    }
  }

  private ingress(suffix: string, sg: aws.ec2.SecurityGroup, from: Peer, port: number | [number, number], description: string): void {
    const [fromPort, toPort] = typeof port === "number" ? [port, port] : port;
    new aws.vpc.SecurityGroupIngressRule(`${this.name}-in-${suffix}`, {
      securityGroupId: sg.id, ipProtocol: "tcp", fromPort, toPort, description,
      cidrIpv4: from.cidr, referencedSecurityGroupId: from.group?.id,
    }, { parent: this });
  }

  private egress(suffix: string, sg: aws.ec2.SecurityGroup, to: Peer, port: number | [number, number], description: string): void {
    const [fromPort, toPort] = typeof port === "number" ? [port, port] : port;
    new aws.vpc.SecurityGroupEgressRule(`${this.name}-out-${suffix}`, {
      securityGroupId: sg.id, ipProtocol: "tcp", fromPort, toPort, description,
      cidrIpv4: to.cidr, referencedSecurityGroupId: to.group?.id,
    }, { parent: this });
  }
}

type Peer = { cidr: string; group?: undefined } | { group: aws.ec2.SecurityGroup; cidr?: undefined };
