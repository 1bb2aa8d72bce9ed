/**
 * No secret value in plain text anywhere; every taggable resource carries the common tags; the outputs an SRE needs.
 * Runs the whole program under mocks per stack (tests/infra/fixtures.ts).
 */
import { expect } from "chai";
import { isTaggable, T } from "./fixtures";
import { FAKE_SECRETS, one, withoutSecrets } from "./harness";
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

  describe("secrets and tags", () => {
    it("no secret value appears in plain text in any resource input (only inside Pulumi secrets)", () => {
      const all = withoutSecrets(run.resources.map((r) => r.inputs));
      for (const [key, value] of Object.entries(FAKE_SECRETS)) {
        expect(all.includes(value), key).to.equal(false);
        expect(all.includes(encodeURIComponent(value)), key).to.equal(false);
      }
      // Sanity: the values are there, wrapped, so the check above would see a leak.
      const wrapped = JSON.stringify(run.resources.map((r) => r.inputs));
      for (const value of Object.values(FAKE_SECRETS)) expect(wrapped).to.contain(value);
    });
    it("no secret value is a stack output", () => {
      const out = JSON.stringify(run.outputs);
      for (const value of Object.values(FAKE_SECRETS)) expect(out).not.to.contain(value);
    });
    it("every taggable resource carries the common tags", () => {
      const taggable = run.resources.filter((r) => r.type.startsWith("aws:") && isTaggable(r.type));
      expect(taggable.length).to.be.greaterThan(50);
      for (const r of taggable) expect(r.inputs.tags, `${r.type} ${r.name}`).to.deep.include(cfg.tags);
      expect(one(run, T.vpc).inputs.tags).to.deep.include(cfg.tags);
    });
    it("the stack exports what an SRE needs", () => {
      expect(run.outputs).to.include.keys("albUrl", "dashboardUrl", "databaseEndpoint", "redisEndpoint", "kafkaBootstrapBrokers", "warehouseEndpoint", "alarmTopicArn");
      expect(run.outputs.albUrl).to.equal("http://atlas-lb-alb.elb.mock.amazonaws.com");
      expect(run.outputs.dashboardUrl).to.equal(`https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=atlas-${stack}`);
    });
  });
  });
}
