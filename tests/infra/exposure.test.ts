/**
 * Only the ALB is reachable from the internet; data stores are private and encrypted at rest and in transit.
 * Runs the whole program under mocks per stack (tests/infra/fixtures.ts).
 */
import { expect } from "chai";
import { SERVICE_NAMES } from "../../app/shared/config";
import { servicesUsing } from "../../infra/services/container-settings";
import { PRIVATE, PUBLIC, sgId, T } from "./fixtures";
import { FAKE_SECRETS, ofType, one, reveal } from "./harness";
import type { StackConfig } from "../../infra/config";
import { STACKS, stackRun } from "./fixtures";
import type { ProgramRun } from "./harness";

for (const stack of STACKS) {
  describe(`infra program, stack ${stack}`, function () {
    this.timeout(120_000);
    let run: ProgramRun;
    let cfg: StackConfig;
    before(async () => {
      ({ run, cfg } = await stackRun(stack));
    });

  describe("network exposure", () => {
    it("only the ALB's security group accepts traffic from the internet, and only on 80/443", () => {
      const open = ofType(run, T.ingress).filter((r) => r.inputs.cidrIpv4 === "0.0.0.0/0" || r.inputs.cidrIpv6 === "::/0");
      expect(open.length).to.be.greaterThan(0);
      for (const r of open) {
        expect(r.inputs.securityGroupId, r.name).to.equal(sgId("alb"));
        expect([80, 443]).to.include(r.inputs.fromPort);
        expect(r.inputs.toPort).to.equal(r.inputs.fromPort);
      }
      for (const r of ofType(run, T.ingress)) expect(r.inputs.cidrIpv4 ?? r.inputs.referencedSecurityGroupId, r.name).to.be.a("string");
    });

    it("no security group carries inline rules (every rule is a visible resource)", () => {
      for (const g of ofType(run, T.sg)) expect(g.inputs.ingress ?? [], g.name).to.deep.equal([]);
    });

    it("the ALB is internet-facing in the public subnets; nothing else is public", () => {
      const lb = one(run, T.lb);
      expect(lb.inputs.internal).to.equal(false);
      expect(lb.inputs.subnets).to.deep.equal(PUBLIC);
      for (const db of ofType(run, T.rds)) expect(db.inputs.publiclyAccessible, db.name).to.equal(false);
      expect(one(run, T.redshift).inputs.publiclyAccessible).to.equal(false);
      expect(one(run, T.msk).inputs.brokerNodeGroupInfo.connectivityInfo.publicAccess.type).to.equal("DISABLED");
      for (const s of ofType(run, T.service)) expect(s.inputs.networkConfiguration.assignPublicIp, s.name).to.equal(false);
    });

    it("data stores, tasks, proxy and connector live in the private subnets", () => {
      expect(one(run, T.rdsSubnets).inputs.subnetIds).to.deep.equal(PRIVATE);
      expect(one(run, T.redisSubnets).inputs.subnetIds).to.deep.equal(PRIVATE);
      expect(one(run, T.redshiftSubnets).inputs.subnetIds).to.deep.equal(PRIVATE);
      expect(one(run, T.msk).inputs.brokerNodeGroupInfo.clientSubnets).to.deep.equal(PRIVATE);
      expect(one(run, T.connector).inputs.kafkaCluster.apacheKafkaCluster.vpc.subnets).to.deep.equal(PRIVATE);
      for (const s of ofType(run, T.service)) expect(s.inputs.networkConfiguration.subnets, s.name).to.deep.equal(PRIVATE);
      for (const p of ofType(run, T.proxy)) expect(p.inputs.vpcSubnetIds).to.deep.equal(PRIVATE);
    });

    const stores: [string, string, number, Parameters<typeof servicesUsing>[0][]][] = [
      ["redis", "redis", 6379, ["REDIS_URL"]],
      ["msk", "msk", 9094, ["KAFKA_BROKERS"]],
      ["redshift", "redshift", 5439, ["WAREHOUSE_URL"]],
      ["rds", "rds", 5432, ["DATABASE_URL", "DATABASE_REPLICA_URLS"]],
    ];
    for (const [label, sg, port, settings] of stores) {
      it(`${label} accepts port ${port} only from the services whose settings use it (${settings.join(", ")}) and Debezium/proxy`, () => {
        const rules = ofType(run, T.ingress).filter((r) => r.inputs.securityGroupId === sgId(sg) && r.inputs.referencedSecurityGroupId !== sgId(sg));
        const sources = rules.map((r) => r.inputs.referencedSecurityGroupId as string);
        const expected = [...new Set(settings.flatMap(servicesUsing))].map((s) => sgId(s));
        if (sg === "msk") expected.push(sgId("msk-connect"));
        if (sg === "rds") {
          expected.push(sgId("msk-connect"));
          if (cfg.database.proxyEnabled) expected.push(sgId("rds-proxy"));
        }
        expect(sources).to.have.members(expected);
        for (const r of rules) expect([r.inputs.fromPort, r.inputs.toPort]).to.deep.equal([port, port]);
      });
    }

    it("API tasks accept only the ALB, on the container port; workers accept nothing", () => {
      for (const s of SERVICE_NAMES) {
        const rules = ofType(run, T.ingress).filter((r) => r.inputs.securityGroupId === sgId(s));
        if (s === "ingest-api" || s === "query-api") {
          expect(rules.map((r) => [r.inputs.referencedSecurityGroupId, r.inputs.fromPort])).to.deep.equal([[sgId("alb"), 8080]]);
        } else {
          expect(rules, s).to.deep.equal([]);
        }
      }
    });
  });

  describe("encryption", () => {
    it("RDS instances are encrypted with the stack key and the parameter group forces TLS", () => {
      for (const db of ofType(run, T.rds)) {
        expect(db.inputs.storageEncrypted, db.name).to.equal(true);
        expect(db.inputs.kmsKeyId, db.name).to.match(/kms\/key/);
      }
      const params = one(run, T.rdsParams).inputs.parameters as { name: string; value: string }[];
      expect(params).to.deep.include({ name: "rds.force_ssl", value: "1", applyMethod: "immediate" });
    });
    it("Redis is encrypted at rest and in transit, with an AUTH token", () => {
      const r = one(run, T.redis).inputs;
      expect(r).to.include({ atRestEncryptionEnabled: true, transitEncryptionEnabled: true });
      expect(reveal(r.authToken)).to.equal(FAKE_SECRETS["atlas:redisAuthToken"]);
    });
    it("MSK uses TLS client-broker and in-cluster, encrypted at rest with the stack key", () => {
      const e = one(run, T.msk).inputs.encryptionInfo;
      expect(e.encryptionInTransit).to.deep.equal({ clientBroker: "TLS", inCluster: true });
      expect(e.encryptionAtRestKmsKeyArn).to.match(/kms\/key/);
      expect(one(run, T.connector).inputs.kafkaClusterEncryptionInTransit).to.deep.equal({ encryptionType: "TLS" });
    });
    it("Redshift is encrypted with the stack key and requires TLS", () => {
      const r = one(run, T.redshift).inputs;
      expect(r.encrypted).to.equal("true");
      expect(r.kmsKeyId).to.match(/kms\/key/);
      expect(one(run, T.redshiftParams).inputs.parameters).to.deep.include({ name: "require_ssl", value: "true" });
    });
    it("every bucket (plugins, CDC staging) is KMS-encrypted and blocks public access; secrets use the stack key", () => {
      const buckets = ofType(run, T.bucket);
      expect(buckets.map((b) => b.name)).to.have.members(["atlas-cdc-plugins", "atlas-dw-staging"]);
      for (const b of buckets) {
        const sse = ofType(run, T.bucketSse).filter((c) => c.inputs.bucket === b.id);
        const pab = ofType(run, T.bucketPab).filter((c) => c.inputs.bucket === b.id);
        expect(sse, b.name).to.have.length(1);
        expect(sse[0].inputs.rules[0].applyServerSideEncryptionByDefault.sseAlgorithm, b.name).to.equal("aws:kms");
        expect(pab, b.name).to.have.length(1);
        expect(pab[0].inputs, b.name).to.include({ blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
      }
      for (const s of ofType(run, T.secret)) expect(s.inputs.kmsKeyId, s.name).to.match(/kms\/key/);
    });
    it("RDS Proxy, when present, requires TLS", () => {
      for (const p of ofType(run, T.proxy)) expect(p.inputs.requireTls).to.equal(true);
    });
  });
  });
}
