/**
 * Stack variants: HTTPS when a certificate is configured, a new stack before
 * its first migration, and a missing setting.
 */
import { expect } from "chai";
import { T } from "./fixtures";
import { FAKE_SECRETS, loadStackConfig, ofType, one, runProgram, type ProgramRun } from "./harness";

describe("infra program, prod with a certificate", function () {
  this.timeout(120_000);
  let run: ProgramRun;
  before(async () => {
    run = await runProgram("prod", { ...loadStackConfig("prod"), "atlas:certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/mock" });
  });
  it("serves HTTPS on 443 with a TLS 1.2+ policy and redirects HTTP to it", () => {
    const listeners = ofType(run, T.listener);
    const https = listeners.find((l) => l.inputs.port === 443)!;
    expect(https.inputs).to.include({ protocol: "HTTPS", certificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/mock", sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06" });
    const http = listeners.find((l) => l.inputs.port === 80)!;
    expect(http.inputs.defaultActions[0]).to.deep.include({ type: "redirect" });
    expect(http.inputs.defaultActions[0].redirect).to.include({ protocol: "HTTPS", statusCode: "HTTP_301" });
    expect(one(run, T.rule).inputs.listenerArn).to.match(/atlas-lb-https$/);
    expect(run.outputs.albUrl).to.match(/^https:\/\//);
  });
});

describe("infra program, new stack before its first migration", function () {
  this.timeout(120_000);
  it("when atlas:cdcConnectorEnabled is false, then no Debezium connector is declared (it needs the migrations' publication)", async () => {
    const run = await runProgram("dev", { ...loadStackConfig("dev"), "atlas:cdcConnectorEnabled": "false" });
    expect(ofType(run, T.connector)).to.deep.equal([]);
    expect(ofType(run, T.msk)).to.have.length(1);
  });
});

describe("infra program, missing stack setting", () => {
  it("when a required setting is missing, then the program fails naming it and the command that sets it", async () => {
    const values = loadStackConfig("prod");
    delete values["atlas:dbReplicaCount"];
    let err: unknown;
    try {
      await runProgram("prod", values, { ...FAKE_SECRETS, "atlas:warehousePassword": undefined });
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.contain('stack "prod" configuration is invalid');
    expect(String(err)).to.contain("atlas:dbReplicaCount is required: pulumi config set atlas:dbReplicaCount <value> --stack prod");
    expect(String(err)).to.contain("atlas:warehousePassword is required and must be a secret: pulumi config set --secret atlas:warehousePassword");
  });
});
