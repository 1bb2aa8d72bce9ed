import { expect } from "chai";
import fs from "fs";
import os from "os";
import path from "path";
import { startNpmStart, type RunningStart } from "./harness";

/**
 * `npm start` on its embedded defaults, as a person with only Node runs it:
 * no DATABASE_URL, no Kafka, no Redis. Runs the real entry point as a child.
 */
describe("npm start on the embedded defaults", function () {
  this.timeout(120_000);
  let started: RunningStart | undefined;
  let url: string;
  let apiKey: string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "atlas-start-"));
  // Run as root, the embedded server runs as a postgres user, which must reach its data directory.
  fs.chmodSync(dir, 0o755);

  before(async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: "0", ATLAS_DIR: dir, ATLAS_EMBEDDED_PG_PORT: String(54339 + Number(process.env.ATLAS_STACK_PORT_OFFSET ?? 0)) };
    for (const k of ["DATABASE_URL", "DATABASE_REPLICA_URLS", "KAFKA_BROKERS", "REDIS_URL", "WAREHOUSE_URL"]) delete env[k];
    started = await startNpmStart(env, 90_000);
    url = started.url;
    apiKey = /^ATLAS_API_KEY=(\S+)$/m.exec(fs.readFileSync(path.join(dir, "local.env"), "utf8"))![1];
  });

  after(async () => {
    await started?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("when it has started, then /readyz answers 200 after checking the database", async () => {
    const res = await fetch(`${url}/readyz`);
    expect(res.status).to.equal(200);
    expect(((await res.json()) as { checks: Record<string, string> }).checks.database).to.equal("ok");
  });

  it("when it has started, then .atlas/local.env names the URL, the demo key and the database", () => {
    const env = fs.readFileSync(path.join(dir, "local.env"), "utf8");
    expect(env).to.match(new RegExp(`^ATLAS_URL=${url}$`, "m"));
    expect(env).to.match(/^DATABASE_URL=postgres:\/\/\S+:54339\/atlas$/m);
    expect(apiKey).to.match(/^atk_/);
  });

  it("when the demo tenant posts a reading in direct mode, then the query API returns it", async () => {
    const auth = { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" };
    const attr = await fetch(`${url}/v1/attributes`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ name: "temperature", data_type: "decimal", hot: true }),
    });
    expect(attr.status).to.equal(201);
    const post = await fetch(`${url}/v1/telemetry`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ readings: [{ entity_id: 7, entity_type: "sensor", values: { temperature: 21.5 } }] }),
    });
    expect(post.status).to.equal(202);
    expect(await post.json()).to.deep.equal({ accepted: 1 });
    const get = await fetch(`${url}/v1/entities/7`, { headers: auth });
    expect(get.status).to.equal(200);
    const body = (await get.json()) as { attributes: Record<string, { value: unknown }> };
    expect(body.attributes.temperature.value).to.equal(21.5);
    expect(get.headers.get("x-cache-status")).to.equal("bypass");
  });

  it("when a request has no API key, then it gets 401 in the contract's error shape", async () => {
    const res = await fetch(`${url}/v1/entities/7`);
    expect(res.status).to.equal(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).to.equal("unauthorized");
  });
});
