/**
 * The webhook endpoints API, served by the query API (the ALB's default
 * target) under the same auth, rate limit and error conventions:
 *
 *   POST   /v1/webhooks                        → 201, the endpoint and its secret (shown once)
 *   GET    /v1/webhooks, GET /v1/webhooks/{id}
 *   PATCH  /v1/webhooks/{id}                   url, events, filter, description, enabled
 *   DELETE /v1/webhooks/{id}                   → 204 (its pending deliveries go with it)
 *   POST   /v1/webhooks/{id}/rotate-secret     → the new secret; the old one signs too for 24 h
 *   GET    /v1/webhooks/{id}/deliveries        ?limit (≤ 200), ?state; attempts, statuses, latency, next retry
 *   POST   /v1/webhooks/{id}/deliveries/{delivery_id}/retry → 202
 *
 * Another tenant's endpoint is answered exactly as a nonexistent one:
 * row-level security hides it, so there is no separate check to get wrong.
 */
import { randomUUID } from "crypto";
import express, { Router } from "express";
import type { Pool } from "../../shared/db";
import { tenantOf } from "../../shared/http/auth";
import { AppError, asyncHandler, badRequest } from "../../shared/http/errors";
import { newSecret } from "../delivery/sign";
import { SecretBox } from "./secret-box";
import { deleteEndpoint, getEndpoint, insertEndpoint, listDeliveries, listEndpoints, retryDelivery, rotateSecret, updateEndpoint } from "./store";
import { parseCreate, parsePatch } from "./validate";
import { deliveryView, endpointView } from "./views";

/** Standard Webhooks / Svix: the previous secret stays valid for 24 hours after a rotation. */
export const ROTATION_OVERLAP_HOURS = 24;

export interface WebhookApiDeps {
  primary: Pool;
  /** WEBHOOK_SECRET_KEY; absent: every route answers 503 (the secrets could not be sealed). */
  secretKey?: string;
  allowPrivateTargets: boolean;
}

const notFound = (id: string, field = "id") => new AppError(404, "not_found", `webhook ${id} not found`, field);
const DELIVERY_STATES = new Set(["pending", "succeeded", "failed"]);

export function createWebhookRouter(deps: WebhookApiDeps): Router {
  const { primary, allowPrivateTargets } = deps;
  const box = deps.secretKey ? new SecretBox(deps.secretKey) : undefined;
  const router = Router();
  router.use("/v1/webhooks", (_req, _res, next) =>
    next(box ? undefined : new AppError(503, "webhooks_not_configured", "webhooks are not configured on this deployment (WEBHOOK_SECRET_KEY is unset)", undefined, undefined, 60)),
  );
  router.use("/v1/webhooks", (req, _res, next) =>
    next(req.method === "POST" || req.method === "PATCH" ? (req.is("application/json") || req.headers["content-length"] === "0" || !req.headers["content-type"] ? undefined : new AppError(415, "unsupported_media_type", "webhooks take Content-Type: application/json", "Content-Type")) : undefined),
    express.json({ limit: "64kb" }),
  );

  router.post(
    "/v1/webhooks",
    asyncHandler(async (req, res) => {
      const input = await parseCreate(req.body, allowPrivateTargets);
      const id = randomUUID();
      const secret = newSecret();
      const row = await insertEndpoint(primary, tenantOf(res), id, input, box!.seal(secret, id));
      res.status(201).setHeader("Location", `/v1/webhooks/${id}`).json({ ...endpointView(row), secret });
    }),
  );
  router.get(
    "/v1/webhooks",
    asyncHandler(async (_req, res) => {
      res.json({ webhooks: (await listEndpoints(primary, tenantOf(res))).map(endpointView) });
    }),
  );
  router.get(
    "/v1/webhooks/:id",
    asyncHandler(async (req, res) => {
      const row = await getEndpoint(primary, tenantOf(res), req.params.id);
      if (!row) throw notFound(req.params.id);
      res.json(endpointView(row));
    }),
  );
  router.patch(
    "/v1/webhooks/:id",
    asyncHandler(async (req, res) => {
      const tenantId = tenantOf(res);
      // Unknown ids first, so another tenant's id is a 404 whatever the body.
      if (!(await getEndpoint(primary, tenantId, req.params.id))) throw notFound(req.params.id);
      const row = await updateEndpoint(primary, tenantId, req.params.id, await parsePatch(req.body, allowPrivateTargets));
      if (!row) throw notFound(req.params.id);
      res.json(endpointView(row));
    }),
  );
  router.delete(
    "/v1/webhooks/:id",
    asyncHandler(async (req, res) => {
      if (!(await deleteEndpoint(primary, tenantOf(res), req.params.id))) throw notFound(req.params.id);
      res.status(204).end();
    }),
  );
  router.post(
    "/v1/webhooks/:id/rotate-secret",
    asyncHandler(async (req, res) => {
      const secret = newSecret();
      const row = await rotateSecret(primary, tenantOf(res), req.params.id, box!.seal(secret, req.params.id), ROTATION_OVERLAP_HOURS);
      if (!row) throw notFound(req.params.id);
      res.json({ ...endpointView(row), secret });
    }),
  );
  router.get(
    "/v1/webhooks/:id/deliveries",
    asyncHandler(async (req, res) => {
      const tenantId = tenantOf(res);
      if (!(await getEndpoint(primary, tenantId, req.params.id))) throw notFound(req.params.id);
      const limitRaw = req.query.limit ?? "50";
      if (typeof limitRaw !== "string" || !/^\d{1,3}$/.test(limitRaw) || Number(limitRaw) < 1 || Number(limitRaw) > 200) throw badRequest("invalid_parameter", "limit must be an integer from 1 to 200", "limit");
      const state = req.query.state;
      if (state !== undefined && (typeof state !== "string" || !DELIVERY_STATES.has(state))) throw badRequest("invalid_parameter", "state must be pending, succeeded or failed", "state");
      const rows = await listDeliveries(primary, tenantId, req.params.id, Number(limitRaw), state as string | undefined);
      res.json({ deliveries: rows.map(deliveryView) });
    }),
  );
  router.post(
    "/v1/webhooks/:id/deliveries/:deliveryId/retry",
    asyncHandler(async (req, res) => {
      const tenantId = tenantOf(res);
      if (!(await getEndpoint(primary, tenantId, req.params.id))) throw notFound(req.params.id);
      const row = await retryDelivery(primary, tenantId, req.params.id, req.params.deliveryId);
      if (!row) throw new AppError(404, "not_found", `delivery ${req.params.deliveryId} not found`, "delivery_id");
      res.status(202).json(deliveryView(row));
    }),
  );
  return router;
}
