/**
 * Webhooks on the embedded default: `npm start` with no DATABASE_URL, no
 * Kafka and no WEBHOOK_SECRET_KEY (it makes one under .atlas/) delivers a
 * signed change event to a local receiver (WEBHOOK_ALLOW_PRIVATE_TARGETS, as
 * a local setup sets it).
 */
import { expect } from "chai";
import fs from "fs";
import os from "os";
import path from "path";
import { Webhook } from "standardwebhooks";
import { startNpmStart, type RunningStart } from "../start/harness";
import { Receiver } from "./harness";

describe("webhooks on npm start's embedded defaults", function () {
  this.timeout(150_000);
  let started: RunningStart | undefined;
  const rx = new Receiver();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "atlas-webhooks-"));
  fs.chmodSync(dir, 0o755); // the embedded server runs as a postgres user

  before(async () => {
    await rx.start();
    const env: NodeJS.ProcessEnv = {
      ...process.env, PORT: "0", ATLAS_DIR: dir, WEBHOOK_ALLOW_PRIVATE_TARGETS: "true",
      ATLAS_EMBEDDED_PG_PORT: String(54349 + Number(process.env.ATLAS_STACK_PORT_OFFSET ?? 0)),
    };
    for (const k of ["DATABASE_URL", "DATABASE_REPLICA_URLS", "KAFKA_BROKERS", "REDIS_URL", "WAREHOUSE_URL", "WEBHOOK_SECRET_KEY"]) delete env[k];
    started = await startNpmStart(env, 120_000);
  });
  after(async () => {
    await started?.stop();
    await rx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("when a status changes, then the receiver gets a verifiable entity.updated with old and new values, and the sealing key stays under .atlas/", async () => {
    const url = started!.url;
    const key = /^ATLAS_API_KEY=(\S+)$/m.exec(fs.readFileSync(path.join(dir, "local.env"), "utf8"))![1];
    const call = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(url + p, { method, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
    };
    expect((await call("POST", "/v1/attributes", { name: "status", data_type: "string", hot: false })).status).to.equal(201);
    const hook = await call("POST", "/v1/webhooks", { url: rx.url, events: ["entity.updated"] });
    expect(hook.status).to.equal(201);
    const t0 = Date.now() - 60_000;
    for (const [i, status] of ["closed", "open"].entries()) {
      const r = await call("POST", "/v1/telemetry", { readings: [{ entity_id: 5, entity_type: "door", ts: new Date(t0 + i * 5_000).toISOString(), values: { status } }] });
      expect(r.status, JSON.stringify(r.body)).to.equal(202);
    }
    const [m] = await rx.waitFor(1, 30_000);
    expect(m.json.type).to.equal("entity.updated");
    expect(m.json.data.changes.status).to.include({ old: "closed", new: "open" });
    expect(() => new Webhook(hook.body.secret).verify(m.body, m.headers as Record<string, string>)).not.to.throw();
    const keyFile = path.join(dir, "webhook-secret.key");
    expect(fs.statSync(keyFile).mode & 0o777).to.equal(0o600);
    const docs = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: object; components: { schemas: object } };
    expect(Object.keys(docs.paths)).to.include.members(["/v1/webhooks", "/v1/webhooks/{id}/rotate-secret"]);
    expect(docs.components.schemas).to.have.property("WebhookEvent");
  });
});
