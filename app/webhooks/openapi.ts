/** OpenAPI 3.0 operations of the webhooks API (registry/router.ts) and the event payloads, merged into the query API's document. */
import { standardErrors as errors } from "../shared/http/openapi-parts";
import { EVENT_TYPES } from "./events/payload";

const filter = {
  type: "object",
  properties: {
    entity_type: { type: "string", nullable: true, description: "Only entities of this type" },
    attributes: { type: "array", items: { type: "string" }, nullable: true, description: "Only these attributes appear in `changes`; an entity whose batch changed none of them is not sent" },
  },
};
const events = { type: "array", minItems: 1, items: { type: "string", enum: [...EVENT_TYPES] } };
const endpoint = {
  type: "object",
  required: ["id", "url", "events", "enabled"],
  properties: {
    id: { type: "string", format: "uuid" },
    url: { type: "string", format: "uri", description: "https; never a loopback, private, link-local or metadata address (checked at registration and at each send)" },
    events,
    filter,
    description: { type: "string", nullable: true },
    enabled: { type: "boolean" },
    disabled_reason: { type: "string", nullable: true, description: "Why the platform disabled it: a 410, or 5 days of failed attempts" },
    disabled_at: { type: "string", format: "date-time", nullable: true },
    failing_since: { type: "string", format: "date-time", nullable: true },
    previous_secret_expires_at: { type: "string", format: "date-time", nullable: true, description: "Until then the previous secret signs too (rotation overlap)" },
    created_at: { type: "string", format: "date-time" },
    updated_at: { type: "string", format: "date-time" },
  },
};
const withSecret = {
  allOf: [endpoint, { type: "object", required: ["secret"], properties: { secret: { type: "string", description: "whsec_ + base64 of 32 random bytes; shown only in this answer" } } }],
};
const delivery = {
  type: "object",
  properties: {
    delivery_id: { type: "string", format: "uuid", description: "The webhook-id header: the same on every attempt" },
    event_type: { type: "string", enum: [...EVENT_TYPES] },
    entity_id: { type: "integer", nullable: true },
    state: { type: "string", enum: ["pending", "succeeded", "failed"] },
    attempts: { type: "integer" },
    committed_at: { type: "string", format: "date-time" },
    next_attempt_at: { type: "string", format: "date-time", nullable: true },
    last_status: { type: "integer", nullable: true },
    last_error: { type: "string", nullable: true },
    delivered_at: { type: "string", format: "date-time", nullable: true },
    attempt_log: {
      type: "array",
      items: { type: "object", properties: { attempt: { type: "integer" }, attempted_at: { type: "string", format: "date-time" }, status: { type: "integer", nullable: true }, latency_ms: { type: "integer" }, error: { type: "string", nullable: true } } },
    },
  },
};
const ok = (schema: object, description = "OK") => ({ description, content: { "application/json": { schema } } });
const idParam = { name: "id", in: "path", required: true, schema: { type: "string", format: "uuid" } };
const json = (schema: object) => ({ required: true, content: { "application/json": { schema } } });

/** The message a receiver gets (the body; headers below). */
export const webhookEventSchema = {
  type: "object",
  required: ["type", "timestamp", "data"],
  description:
    "POSTed to the endpoint with the headers webhook-id (stable across retries: the idempotency key), webhook-timestamp (unix seconds of this attempt), " +
    "webhook-signature (space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>`, one per live secret), X-Event-Timestamp (the commit time, ISO 8601) " +
    "and X-Processing-Lag-Seconds (commit → this send). Verify with any Standard Webhooks library. Answer 2xx within 15 s; anything else is retried " +
    "(immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, ±10 %), a Retry-After that asks for longer is honoured, 410 disables the endpoint.",
  properties: {
    type: { type: "string", enum: [...EVENT_TYPES] },
    timestamp: { type: "string", format: "date-time" },
    data: {
      type: "object",
      properties: {
        entity_id: { type: "integer" },
        entity_type: { type: "string" },
        changes: {
          type: "object",
          description: 'Per changed attribute of one flushed batch: {"old": value|null, "new": value, "ts": device time of the new value}',
          additionalProperties: { type: "object", properties: { old: {}, new: {}, ts: { type: "string", format: "date-time" } } },
        },
        occurred_at: { type: "string", format: "date-time", description: "Device time of the newest change" },
        committed_at: { type: "string", format: "date-time", description: "When the change committed (taken inside the committing transaction: never later than the commit)" },
        processed_at: { type: "string", format: "date-time", description: "When this attempt was sent" },
        lag_seconds: { type: "number", description: "processed_at − committed_at" },
        endpoint_id: { type: "string", description: "endpoint.disabled: the endpoint that was disabled" },
        reason: { type: "string", description: "endpoint.disabled: why" },
      },
    },
  },
};

export const webhookPaths = {
  "/v1/webhooks": {
    post: {
      summary: "Register an endpoint; the answer carries its signing secret, shown once",
      requestBody: json({ type: "object", required: ["url", "events"], properties: { url: endpoint.properties.url, events, filter, description: { type: "string" } } }),
      responses: { "201": ok(withSecret, "Created"), ...errors },
    },
    get: { summary: "The tenant's endpoints", responses: { "200": ok({ type: "object", properties: { webhooks: { type: "array", items: endpoint } } }), ...errors } },
  },
  "/v1/webhooks/{id}": {
    get: { summary: "One endpoint (another tenant's is not found)", parameters: [idParam], responses: { "200": ok(endpoint), ...errors } },
    patch: {
      summary: "Change url, events, filter, description or enabled (true re-enables a disabled endpoint; its pending deliveries resume)",
      parameters: [idParam],
      requestBody: json({ type: "object", properties: { url: endpoint.properties.url, events, filter, description: { type: "string" }, enabled: { type: "boolean" } } }),
      responses: { "200": ok(endpoint), ...errors },
    },
    delete: { summary: "Delete the endpoint and its pending deliveries", parameters: [idParam], responses: { "204": { description: "Deleted" }, ...errors } },
  },
  "/v1/webhooks/{id}/rotate-secret": {
    post: { summary: "A new secret; the previous one keeps signing beside it for 24 h", parameters: [idParam], responses: { "200": ok(withSecret), ...errors } },
  },
  "/v1/webhooks/{id}/deliveries": {
    get: {
      summary: "Deliveries, newest first, with every attempt (status, latency, error) and the next retry",
      parameters: [
        idParam,
        { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 200, default: 50 } },
        { name: "state", in: "query", schema: { type: "string", enum: ["pending", "succeeded", "failed"] } },
      ],
      responses: { "200": ok({ type: "object", properties: { deliveries: { type: "array", items: delivery } } }), ...errors },
    },
  },
  "/v1/webhooks/{id}/deliveries/{delivery_id}/retry": {
    post: {
      summary: "Send a delivery again now (same webhook-id)",
      parameters: [idParam, { name: "delivery_id", in: "path", required: true, schema: { type: "string", format: "uuid" } }],
      responses: { "202": ok(delivery, "Queued"), ...errors },
    },
  },
};
