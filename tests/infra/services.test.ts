/**
 * The ECS services get exactly their settings from app/shared/config.ts, secrets only as ECS secrets; the ALB routes by path.
 * Runs the whole program under mocks per stack (tests/infra/fixtures.ts).
 */
import { expect } from "chai";
import { parseConfig, SECRET_SETTINGS, SERVICE_NAMES, SERVICE_SETTINGS } from "../../app/shared/config";
import { SERVICE_COMMANDS, INGEST_PATH_PATTERNS } from "../../infra/services/entrypoints";
import { containerOf, T, taskOf } from "./fixtures";
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

  describe("services", () => {
    for (const service of SERVICE_NAMES) {
      it(`${service}: container environment ∪ secrets == SERVICE_SETTINGS, secrets only as ECS secrets`, () => {
        const c = containerOf(taskOf(run, service));
        const names = [...c.environment.map((e) => e.name), ...c.secrets.map((s) => s.name)];
        expect(names).to.have.members([...SERVICE_SETTINGS[service]]);
        expect(names).to.have.lengthOf(SERVICE_SETTINGS[service].length);
        for (const e of c.environment) expect(SECRET_SETTINGS as readonly string[], e.name).not.to.include(e.name);
        for (const s of c.secrets) {
          const slug = s.name.toLowerCase().replace(/_/g, "-");
          expect(s.valueFrom).to.equal(`arn:aws:mock:us-east-1:123456789012:secretsmanager/secret/atlas-secrets-${slug}`);
        }
      });
      it(`${service}: runs ${SERVICE_COMMANDS[service].join(" ")} on Fargate with the configured size`, () => {
        const task = taskOf(run, service);
        expect(containerOf(task).command).to.deep.equal([...SERVICE_COMMANDS[service]]);
        expect(task.inputs).to.include({ cpu: String(cfg.services[service].cpu), memory: String(cfg.services[service].memory), networkMode: "awsvpc" });
        expect(task.inputs.requiresCompatibilities).to.deep.equal(["FARGATE"]);
      });
      it(`${service}: the execution role may read exactly its own secrets`, () => {
        const policies = ofType(run, T.rolePolicy).filter((p) => p.name === `atlas-${service}-secrets`);
        const expected = SERVICE_SETTINGS[service].filter((s) => (SECRET_SETTINGS as readonly string[]).includes(s))
          .map((s) => `arn:aws:mock:us-east-1:123456789012:secretsmanager/secret/atlas-secrets-${s.toLowerCase().replace(/_/g, "-")}`);
        const doc = JSON.parse(policies[0].inputs.policy as string) as { Statement: { Action: string[]; Resource: string[] }[] };
        expect(doc.Statement.find((st) => st.Action.includes("secretsmanager:GetSecretValue"))?.Resource).to.have.members(expected);
      });
    }

    it("what each task receives parses with the services' own schema (parseConfig of app/shared)", () => {
      const secretValues = new Map(ofType(run, T.secretVersion).map((v) => [v.inputs.secretId as string, reveal(v.inputs.secretString) as string]));
      for (const service of SERVICE_NAMES) {
        const c = containerOf(taskOf(run, service));
        const env: Record<string, string> = Object.fromEntries(c.environment.map((e) => [e.name, e.value]));
        for (const s of c.secrets) {
          const secretName = s.valueFrom.split("/").pop()!;
          const value = secretValues.get(`${secretName}-id`);
          expect(value, `${service} ${s.name}`).to.be.a("string");
          env[s.name] = value!;
        }
        const parsed = parseConfig(env);
        expect(parsed.KAFKA_BROKERS ?? [], service).to.satisfy((b: string[]) => b.every((x) => x.endsWith(":9094")));
        if (SERVICE_SETTINGS[service].includes("KAFKA_SSL")) expect(parsed.KAFKA_SSL, service).to.equal(true);
        if (SERVICE_SETTINGS[service].includes("DATABASE_REPLICA_URLS")) expect(parsed.DATABASE_REPLICA_URLS).to.have.length(cfg.database.replicaCount);
      }
    });
    it("the DATABASE_URL secret points at the proxy when there is one, with TLS verification", () => {
      const v = reveal(one(run, T.secretVersion, "database-url").inputs.secretString) as string;
      const url = new URL(v);
      expect(url.hostname).to.equal(stack === "prod" ? "atlas-db-proxy.proxy-mock.rds.amazonaws.com" : "atlas-db-primary.mock.rds.amazonaws.com");
      expect(url.searchParams.get("sslmode")).to.equal("verify-full");
      expect(decodeURIComponent(url.password)).to.equal(FAKE_SECRETS["atlas:dbPassword"]);
    });
    it("DATABASE_REPLICA_URLS lists one URL per replica", () => {
      const v = reveal(one(run, T.secretVersion, "database-replica-urls").inputs.secretString) as string;
      expect(v).to.not.equal(""); // Secrets Manager refuses an empty SecretString
      expect(v.split(",").filter((u) => u !== "")).to.have.length(cfg.database.replicaCount);
    });
    it("Debezium reads the primary directly (never the proxy) and only references the password", () => {
      const c = one(run, T.connector).inputs.connectorConfiguration as Record<string, string>;
      expect(c["database.hostname"]).to.equal("atlas-db-primary.mock.rds.amazonaws.com");
      expect(c["database.password"]).to.match(/^\$\{secretsmanager:arn:.*atlas-db-credentials:password\}$/);
    });
  });

  describe("load balancer", () => {
    it("routes /v1/telemetry, /v1/attributes and /v1/imports to ingest, everything else to query", () => {
      const rule = one(run, T.rule).inputs;
      expect(rule.conditions[0].pathPattern.values).to.deep.equal([...INGEST_PATH_PATTERNS]);
      expect(INGEST_PATH_PATTERNS).to.include.members(["/v1/telemetry*", "/v1/attributes*", "/v1/imports*"]);
      expect(rule.actions[0].targetGroupArn).to.match(/atlas-lb-ingest-api$/);
      const main = ofType(run, T.listener).find((l) => l.inputs.defaultActions[0].type === "forward")!;
      expect(main.inputs.defaultActions[0].targetGroupArn).to.match(/atlas-lb-query-api$/);
      expect(rule.listenerArn).to.match(new RegExp(`/${main.name}$`));
    });
    it("target groups health-check /readyz on the container port", () => {
      for (const tg of ofType(run, T.targetGroup)) expect(tg.inputs).to.deep.include({ port: 8080, targetType: "ip", healthCheck: tg.inputs.healthCheck }).and.nested.include({ "healthCheck.path": "/readyz" });
    });
    it("without a certificate the ALB serves plain HTTP on 80 only", () => {
      expect(ofType(run, T.listener).map((l) => [l.inputs.port, l.inputs.protocol])).to.deep.equal([[80, "HTTP"]]);
    });
  });
  });
}
