/**
 * The webhooks part, as the services compose it: the API router (query
 * API), the delivery worker (batch writer, and `npm start`), and the local
 * sealing key of `npm start`.
 */
import { randomBytes } from "crypto";
import fs from "fs";
import path from "path";
import type { AtlasConfig } from "../shared/config";
import type { Pool } from "../shared/db";
import { DeliveryWorker } from "./delivery/worker";

export { createWebhookRouter } from "./registry/router";
export { webhookPaths } from "./openapi";
export { DeliveryWorker } from "./delivery/worker";

/** Starts the delivery worker when WEBHOOK_SECRET_KEY is set; returns its stop, or undefined. */
export function startWebhookWorker(config: AtlasConfig, pool: Pool): DeliveryWorker | undefined {
  if (!config.WEBHOOK_SECRET_KEY) return undefined;
  const worker = new DeliveryWorker({
    pool,
    secretKey: config.WEBHOOK_SECRET_KEY,
    allowPrivateTargets: config.WEBHOOK_ALLOW_PRIVATE_TARGETS,
    maxInFlightPerEndpoint: config.WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT,
  });
  worker.start();
  return worker;
}

/**
 * `npm start` without WEBHOOK_SECRET_KEY: a key made once under .atlas/
 * (owner-readable only) and reused, so local secrets survive restarts and
 * the local database alone does not reveal them, as in AWS.
 */
export function localSecretKey(atlasDir: string): string {
  const file = path.join(atlasDir, "webhook-secret.key");
  if (fs.existsSync(file)) return fs.readFileSync(file, "utf8").trim();
  fs.mkdirSync(atlasDir, { recursive: true });
  const key = randomBytes(32).toString("base64");
  fs.writeFileSync(file, key + "\n", { mode: 0o600 });
  return key;
}
