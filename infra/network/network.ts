import * as pulumi from "@pulumi/pulumi";
import * as awsx from "@pulumi/awsx";

export interface NetworkArgs {
  cidrBlock: string;
  /** "Single" (one NAT for the VPC, dev) or "OnePerAz" (prod: an AZ outage keeps egress). */
  natGateways: "Single" | "OnePerAz";
}

/**
 * VPC across 3 AZs: public subnets hold only the ALB and the NAT gateways;
 * everything else (tasks, RDS, Redis, MSK, Redshift) lives in the private
 * subnets and reaches out only through NAT.
 */
export class Network extends pulumi.ComponentResource {
  public readonly vpcId: pulumi.Output<string>;
  public readonly publicSubnetIds: pulumi.Output<string[]>;
  public readonly privateSubnetIds: pulumi.Output<string[]>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas:network:Network", name, {}, opts);
    const vpc = new awsx.ec2.Vpc(`${name}-vpc`, {
      cidrBlock: args.cidrBlock,
      numberOfAvailabilityZones: 3,
      enableDnsHostnames: true,
      enableDnsSupport: true,
      subnetStrategy: "Auto",
      subnetSpecs: [
        { type: "Public", cidrMask: 24 },
        { type: "Private", cidrMask: 20 },
      ],
      natGateways: { strategy: args.natGateways },
    }, { parent: this });
    this.vpcId = vpc.vpcId;
    this.publicSubnetIds = vpc.publicSubnetIds;
    this.privateSubnetIds = vpc.privateSubnetIds;
    this.registerOutputs({ vpcId: this.vpcId, publicSubnetIds: this.publicSubnetIds, privateSubnetIds: this.privateSubnetIds });
  }
}
