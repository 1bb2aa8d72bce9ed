import { expect } from "chai";
import { execFile } from "child_process";
import fs from "fs";
import os from "os";
import path from "path";
import { promisify } from "util";
import { parseApiKey } from "../../../app/shared/tenants";
import { promtoolProblems, validateOpenApi } from "../../helpers/outside-checks";
import { requireStackVar, STACK_ENV_NAMES } from "../../helpers/stack-env";
import { startNpmStart, type RunningStart } from "./harness";

const run = promisify(execFile);

/**
 * `npm start` with the stack's settings, as the README says to run it: every
 * component, the CDC pipeline included. Readings posted over HTTP must reach
 * the warehouse, and `npm run reconcile` must agree.
 */
describe("npm start on the local stack (every component, CDC included)", function () {
  this.timeout(240_000);
  let started: RunningStart | undefined;
  let url: string;
  let apiKey: string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "atlas-start-stack-"));
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: "0", ATLAS_DIR: dir };
  for (const name of STACK_ENV_NAMES) env[name] = requireStackVar(name);

  before(async () => {
    started = await startNpmStart(env, 180_000);
    url = started.url;
    apiKey = /^ATLAS_API_KEY=(\S+)$/m.exec(fs.readFileSync(path.join(dir, "local.env"), "utf8"))![1];
  });

  after(async () => {
    await started?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("when it starts with the stack's settings, then it names the connector and the loader among its components", () => {
    const components = /components: (.*)/.exec(started!.output.join(""))![1];
    expect(components).to.contain("ingest (kafka)").and.contain("batch writer").and.contain("debezium connector (running)").and.contain("cdc loader");
  });

  it("when readings are posted over HTTP, then they reach the warehouse and npm run reconcile agrees within 60 s", async () => {
    const auth = { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" };
    const attr = await fetch(`${url}/v1/attributes`, { method: "POST", headers: auth, body: JSON.stringify({ name: "stack_temperature", data_type: "decimal" }) });
    expect([200, 201]).to.include(attr.status);
    const base = Date.now() - 600_000;
    const entity0 = 1_000_000 + Math.floor(Math.random() * 1_000_000);
    const readings = Array.from({ length: 200 }, (_, i) => ({
      entity_id: entity0 + (i % 20),
      entity_type: "sensor",
      ts: new Date(base + i * 1000).toISOString(),
      values: { stack_temperature: i / 10 },
    }));
    const post = await fetch(`${url}/v1/telemetry`, { method: "POST", headers: auth, body: JSON.stringify({ readings }) });
    expect(post.status).to.equal(202);

    const tenantId = parseApiKey(apiKey)!.tenantId;
    const started = Date.now();
    const { stdout } = await run(
      process.execPath,
      ["-r", "ts-node/register/transpile-only", "app/cdc/reconcile-cli.ts", "--tenant", tenantId, "--wait-seconds", "60", "--json"],
      { env },
    );
    expect(Date.now() - started).to.be.below(65_000);
    expect(stdout).to.not.match(/"differences":\s*\[\s*\{/);
  });
  it("when it has served traffic, then its /metrics (every component in one process) passes promtool check metrics", async () => {
    await fetch(`${url}/v1/entities/1`, { headers: { Authorization: `Bearer ${apiKey}` } });
    const res = await fetch(`${url}/metrics`);
    expect(res.status).to.equal(200);
    const body = await res.text();
    expect(body).to.contain("atlas_http_request_duration_seconds_bucket");
    // Issue 13 names this gauge with "days" in it, and the issue rules; promtool
    // would have base units (seconds). That finding alone is allowed.
    const allowed = ['atlas_partitions_ahead_days use base unit "seconds" instead of "days"'];
    expect(promtoolProblems(body).filter((p) => !allowed.includes(p))).to.deep.equal([]);
  });

  it("when /openapi.json is fetched, then it validates as OpenAPI 3 with every $ref resolved", async () => {
    const res = await fetch(`${url}/openapi.json`);
    expect(res.status).to.equal(200);
    await validateOpenApi(await res.json());
  });
});
