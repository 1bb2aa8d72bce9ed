/** The OpenAPI document of the ingest API, served at /openapi.json. */
const error = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: {
        code: { type: "string" },
        message: { type: "string" },
        field: { type: "string" },
        details: {},
      },
    },
  },
};

const errorResponse = (description: string, headers?: object) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
});
const retryAfter = { "Retry-After": { schema: { type: "integer" }, description: "seconds" } };

const reading = {
  type: "object",
  required: ["entity_id", "entity_type", "values"],
  properties: {
    entity_id: {
      oneOf: [{ type: "integer", minimum: 1 }, { type: "string", pattern: "^[0-9]{1,19}$" }],
      description: "positive integer ≤ 2^63-1; send ids above 2^53-1 as a digit string",
    },
    entity_type: { type: "string", minLength: 1, maxLength: 64, description: "recorded when the entity is first seen" },
    ts: {
      oneOf: [{ type: "string", format: "date-time" }, { type: "integer", description: "epoch milliseconds" }],
      description: "device time with timezone; defaults to the arrival time. Older than the live window: backfill lane; more than the clock skew in the future: rejected",
    },
    values: {
      type: "object",
      minProperties: 1,
      description: "attribute name → value, each of the attribute's registered type",
      additionalProperties: { oneOf: [{ type: "number" }, { type: "string" }, { type: "boolean" }] },
    },
  },
};

const attribute = {
  type: "object",
  properties: {
    name: { type: "string", pattern: "^[a-zA-Z_][a-zA-Z0-9_.-]{0,127}$" },
    data_type: { type: "string", enum: ["int", "decimal", "bool", "string", "timestamp"] },
    hot: { type: "boolean" },
    attribute_id: { type: "integer" },
    created_at: { type: "string", format: "date-time" },
  },
};

export const openapi = {
  openapi: "3.0.3",
  info: { title: "Atlas Telemetry ingest API", version: "1.0.0" },
  components: {
    securitySchemes: { apiKey: { type: "http", scheme: "bearer" } },
    schemas: { Error: error, Reading: reading, Attribute: attribute },
  },
  security: [{ apiKey: [] }],
  paths: {
    "/v1/telemetry": {
      post: {
        summary: "Ingest readings (all-or-nothing per request)",
        requestBody: {
          required: true,
          content: {
            "application/json": {
              schema: { type: "object", required: ["readings"], properties: { readings: { type: "array", items: { $ref: "#/components/schemas/Reading" } } } },
            },
            "application/x-ndjson": { schema: { $ref: "#/components/schemas/Reading" }, description: "one reading per line, streamed" },
          },
        },
        responses: {
          "202": {
            description: "durable (acked by Kafka with acks=all, or committed in direct mode)",
            content: { "application/json": { schema: { type: "object", properties: { accepted: { type: "integer" } } } } },
          },
          "400": errorResponse("invalid_readings (details: every bad reading as {index, field, reason}, at most 100), malformed_json, invalid_body"),
          "401": errorResponse("missing, unknown or revoked API key"),
          "413": errorResponse("payload_too_large (body bytes) or too_many_readings"),
          "415": errorResponse("unsupported_media_type or unsupported_encoding"),
          "429": errorResponse("rate_limited: details.limit names the limit (requests, readings, backfill_readings)", retryAfter),
          "503": errorResponse("dependency_unavailable: nothing was acknowledged; retry (a retried reading is stored once)", retryAfter),
        },
      },
    },
    "/v1/attributes": {
      get: {
        summary: "The tenant's attributes",
        responses: {
          "200": {
            description: "attributes by name",
            content: { "application/json": { schema: { type: "object", properties: { attributes: { type: "array", items: { $ref: "#/components/schemas/Attribute" } } } } } },
          },
        },
      },
      post: {
        summary: "Register an attribute (idempotent for the same type)",
        requestBody: {
          required: true,
          content: {
            "application/json": {
              schema: { type: "object", required: ["name", "data_type"], properties: { name: attribute.properties.name, data_type: attribute.properties.data_type, hot: { type: "boolean", default: false } } },
            },
          },
        },
        responses: {
          "201": { description: "created", content: { "application/json": { schema: { $ref: "#/components/schemas/Attribute" } } } },
          "200": { description: "already registered with this type (a changed hot flag is applied)", content: { "application/json": { schema: { $ref: "#/components/schemas/Attribute" } } } },
          "400": errorResponse("invalid_attribute"),
          "409": errorResponse("attribute_type_conflict: the name exists with another data type"),
        },
      },
    },
  },
};
