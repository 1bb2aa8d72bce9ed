/** OpenAPI 3.0 description of the query API, served at /openapi.json. */
import { lifecyclePaths } from "../lifecycle/openapi";
import { webhookEventSchema, webhookPaths } from "../webhooks/openapi";
import { standardErrors } from "../shared/http/openapi-parts";

const freshnessHeaders = {
  "X-Data-Source": { description: "primary, replica-<n>, cache or warehouse", schema: { type: "string" } },
  "X-Data-Lag-Seconds": { description: "Lag of the source that answered (cache: the source's lag when cached + the copy's age)", schema: { type: "number" } },
  "X-Consistency-Level": { schema: { type: "string", enum: ["strong", "eventual", "analytics"] } },
  "X-Cache-Status": { schema: { type: "string", enum: ["hit", "miss", "bypass"] } },
  "X-Query-Duration-Ms": { schema: { type: "number" } },
  "X-Data-As-Of": {
    description: "The time up to which the answer is complete (ISO-8601): the warehouse's loaded primary commit time, else now minus X-Data-Lag-Seconds",
    schema: { type: "string", format: "date-time" },
  },
};

const consistencyParams = [
  {
    name: "X-Consistency-Level",
    in: "header",
    description: "strong: the primary (read-after-write, no cache). eventual (default): a replica within the lag budget, else the primary; may be served from the cache. analytics: /v1/analytics only.",
    schema: { type: "string", enum: ["strong", "eventual", "analytics"], default: "eventual" },
  },
  { name: "X-Max-Lag-Seconds", in: "header", description: "Lag budget for eventual reads (default DEFAULT_MAX_LAG_SECONDS, 3)", schema: { type: "number", minimum: 0, maximum: 86400 } },
];

const metadata = {
  type: "object",
  properties: {
    source: { type: "string" },
    lag_seconds: { type: "number" },
    consistency: { type: "string" },
    cache_status: { type: "string" },
    query_ms: { type: "number" },
    as_of: { type: "string", format: "date-time" },
  },
};

const entity = {
  type: "object",
  properties: {
    entity_id: { type: "integer" },
    entity_type: { type: "string", nullable: true, description: "null until a reading names the entity's type" },
    attributes: {
      type: "object",
      additionalProperties: { type: "object", properties: { value: {}, ts: { type: "string", format: "date-time" } } },
    },
    updated_at: { type: "string", format: "date-time" },
  },
};

const ok = (schema: object) => ({ description: "OK", headers: freshnessHeaders, content: { "application/json": { schema } } });
const idParam = { name: "id", in: "path", required: true, schema: { type: "integer", minimum: 1 } };
const attributesParam = {
  name: "attributes",
  in: "query",
  description: "Only these attributes (comma-separated names, at most 100); a name the tenant has not registered is a 400 unknown_attributes",
  schema: { type: "string" },
  example: "temperature,status",
};
const errors = standardErrors;

export const queryOpenApi = {
  openapi: "3.0.3",
  info: { title: "Atlas Telemetry query API", version: "1.0.0" },
  components: { securitySchemes: { apiKey: { type: "http", scheme: "bearer" } }, schemas: { WebhookEvent: webhookEventSchema } },
  security: [{ apiKey: [] }],
  paths: {
    "/v1/entities/{id}": {
      get: {
        summary: "Latest value of every attribute of an entity (by device time)",
        parameters: [idParam, attributesParam, ...consistencyParams],
        responses: { "200": ok({ allOf: [entity, { type: "object", properties: { _metadata: metadata } }] }), ...errors },
      },
      ...lifecyclePaths["/v1/entities/{id}"],
    },
    "/v1/entities/batch-get": {
      post: {
        summary: "Latest values of up to 1,000 entities in one read; ids the tenant does not have are listed in missing",
        parameters: consistencyParams,
        requestBody: {
          required: true,
          content: {
            "application/json": {
              schema: {
                type: "object",
                required: ["entity_ids"],
                additionalProperties: false,
                properties: {
                  entity_ids: { type: "array", minItems: 1, maxItems: 1000, items: { type: "integer", minimum: 1 } },
                  attributes: { type: "array", maxItems: 100, items: { type: "string" }, description: "Only these attributes" },
                },
              },
              example: { entity_ids: [7, 8, 9], attributes: ["temperature"] },
            },
          },
        },
        responses: {
          "200": ok({
            type: "object",
            properties: {
              entities: { type: "array", items: entity, description: "In request order, duplicates once" },
              missing: { type: "array", items: { type: "integer" }, description: "Requested ids the tenant has no entity for" },
              _metadata: metadata,
            },
          }),
          ...errors,
        },
      },
    },
    "/v1/entities/search": {
      post: {
        summary: "Entities matching all filters on hot attributes, newest update first",
        parameters: consistencyParams,
        requestBody: {
          required: true,
          content: {
            "application/json": {
              schema: {
                type: "object",
                properties: {
                  filters: {
                    type: "array",
                    maxItems: 20,
                    items: {
                      type: "object",
                      required: ["attribute", "op", "value"],
                      properties: { attribute: { type: "string" }, op: { type: "string", enum: ["eq", "in", "gt", "gte", "lt", "lte"] }, value: {} },
                    },
                  },
                  limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
                  cursor: { type: "string", nullable: true, description: "next_cursor of the previous page (same tenant, same filters)" },
                },
              },
            },
          },
        },
        responses: {
          "200": ok({ type: "object", properties: { entities: { type: "array", items: entity }, next_cursor: { type: "string", nullable: true }, _metadata: metadata } }),
          ...errors,
        },
      },
    },
    "/v1/entities/{id}/timeseries": {
      get: {
        summary: "Raw points, or one aggregate per interval aligned in a time zone",
        parameters: [
          idParam,
          { name: "attributes", in: "query", required: true, schema: { type: "string" }, description: "comma-separated names (1..20)" },
          { name: "from", in: "query", required: true, schema: { type: "string", format: "date-time" } },
          { name: "to", in: "query", required: true, schema: { type: "string", format: "date-time" }, description: "after from; span at most TIMESERIES_MAX_SPAN_DAYS (31)" },
          { name: "interval", in: "query", schema: { type: "string", example: "1h" }, description: "1m..30m, 1h..12h, 1d, 1w, 1M" },
          { name: "agg", in: "query", schema: { type: "string", enum: ["avg", "min", "max", "sum", "count", "last"], default: "avg" } },
          { name: "tz", in: "query", schema: { type: "string", default: "UTC", example: "Europe/Berlin" } },
          { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 100000, default: 10000 }, description: "raw points per attribute" },
          ...consistencyParams,
        ],
        responses: {
          "200": ok({
            type: "object",
            properties: {
              series: { type: "object", additionalProperties: { type: "array", items: { type: "object", properties: { ts: { type: "string" }, value: {} } } } },
              _metadata: metadata,
            },
          }),
          ...errors,
        },
      },
    },
    "/v1/analytics/attributes/{name}/{granularity}": {
      get: {
        summary: "Hourly or daily distribution of an attribute, from the warehouse",
        parameters: [
          { name: "name", in: "path", required: true, schema: { type: "string" } },
          { name: "granularity", in: "path", required: true, schema: { type: "string", enum: ["hourly", "daily"] } },
          { name: "from", in: "query", required: true, schema: { type: "string", format: "date-time" } },
          { name: "to", in: "query", required: true, schema: { type: "string", format: "date-time" } },
        ],
        responses: { "200": ok({ type: "object" }), ...errors },
      },
    },
    "/v1/analytics/entities/count-by-type": {
      get: { summary: "Entities per type, from the warehouse", responses: { "200": ok({ type: "object" }), ...errors } },
    },
    "/v1/entities/{id}/attributes/{name}": lifecyclePaths["/v1/entities/{id}/attributes/{name}"],
    "/v1/jobs/{id}": lifecyclePaths["/v1/jobs/{id}"],
    "/v1/retention": lifecyclePaths["/v1/retention"],
    ...webhookPaths,
  },
};
