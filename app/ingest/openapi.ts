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
  required: ["entity_id", "values"],
  properties: {
    entity_id: {
      oneOf: [{ type: "integer", minimum: 1 }, { type: "string", pattern: "^[0-9]{1,19}$" }],
      description: "positive integer ≤ 2^63-1; send ids above 2^53-1 as a digit string",
    },
    entity_type: {
      type: "string",
      minLength: 1,
      maxLength: 64,
      description: "optional: the first reading that names one sets the entity's type; a different one later is a 400 entity_type_conflict",
    },
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

const importRejection = {
  type: "object",
  required: ["line", "field", "reason"],
  properties: {
    line: { type: "integer", minimum: 1, description: "1-based line of the upload the row starts on" },
    row: { type: "integer", minimum: 1, description: "CSV: the data row number (the header excluded)" },
    field: { type: "string", description: "NDJSON: the reading's field (values.temperature); CSV: the column; row or reading when the row itself is bad" },
    reason: { type: "string" },
  },
};

const importCounts = {
  rows_read: { type: "integer" },
  accepted: { type: "integer", description: "valid rows committed (a replayed row is accepted and stored once)" },
  rejected: { type: "integer", description: "rows rejected; each listed in rejections up to 1,000 problems" },
  bytes: { type: "integer", description: "body bytes read (after gzip)" },
};

const importJob = {
  type: "object",
  description: "The import's job, as GET /v1/jobs/{id} shows it",
  required: ["job_id", "kind", "state"],
  properties: {
    job_id: { type: "string", format: "uuid" },
    kind: { type: "string", enum: ["import"] },
    state: { type: "string", enum: ["running", "succeeded", "failed"] },
    params: {
      type: "object",
      properties: { format: { type: "string", enum: ["ndjson", "csv"] }, content_type: { type: "string" }, entity_type: { type: "string" } },
    },
    progress: { type: "object", properties: importCounts },
    result: {
      type: "object",
      properties: {
        ...importCounts,
        rejections: { type: "array", items: { $ref: "#/components/schemas/ImportRejection" } },
        truncated_rejections: { type: "integer", description: "problems not listed past the first 1,000" },
      },
    },
    error: { type: "string", nullable: true },
    created_at: { type: "string", format: "date-time" },
    started_at: { type: "string", format: "date-time", nullable: true },
    finished_at: { type: "string", format: "date-time", nullable: true },
  },
};

const jobLocation = { Location: { schema: { type: "string" }, description: "/v1/jobs/{id} of the import's job" } };

export const openapi = {
  openapi: "3.0.3",
  info: { title: "Atlas Telemetry ingest API", version: "1.0.0" },
  components: {
    securitySchemes: { apiKey: { type: "http", scheme: "bearer" } },
    schemas: { Error: error, Reading: reading, Attribute: attribute, ImportJob: importJob, ImportRejection: importRejection },
  },
  security: [{ apiKey: [] }],
  paths: {
    "/v1/telemetry": {
      post: {
        summary: "Ingest readings (all-or-nothing per request)",
        requestBody: {
          required: true,
          description: "JSON {readings: [...]}, or NDJSON: one reading per line, streamed",
          content: {
            "application/json": {
              schema: { type: "object", required: ["readings"], properties: { readings: { type: "array", items: { $ref: "#/components/schemas/Reading" } } } },
            },
            "application/x-ndjson": { schema: { $ref: "#/components/schemas/Reading" } },
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
    "/v1/imports": {
      post: {
        summary: "Bulk backfill of historical readings (any size, streamed; bad rows reported, the rest stored)",
        description:
          "The body is read as a stream and stored in transactions of 2,000 readings, paced by the tenant's backfill-lane quota " +
          "(the upload slows down instead of a 429). Every row needs its ts. Rows that are bad are listed in the job's result and " +
          "the rest is stored. A re-upload of the same file stores nothing twice. Progress: GET /v1/jobs/{id}. " +
          "A row or line over 1 MiB is a rejected row (NDJSON) or ends the import at that line (CSV, with a syntax error).",
        parameters: [
          {
            name: "entity_type",
            in: "query",
            required: false,
            schema: { type: "string", minLength: 1, maxLength: 64 },
            description: "CSV only: the entity type of rows without an entity_type cell (required when the header has no entity_type column)",
          },
          {
            name: "Content-Encoding",
            in: "header",
            required: false,
            schema: { type: "string", enum: ["gzip", "identity"] },
          },
        ],
        requestBody: {
          required: true,
          description:
            "NDJSON: one reading per line, as POST /v1/telemetry's; ts required. CSV: a header row naming entity_id, ts (ISO-8601 with a timezone, or epoch ms), " +
            "optionally entity_type, and attribute columns (registered beforehand: cells are typed by the attribute's data type; bool cells: true/false/t/f/1/0); " +
            "an empty cell is no value",
          content: {
            "application/x-ndjson": { schema: { $ref: "#/components/schemas/Reading" } },
            "text/csv": { schema: { type: "string" } },
          },
        },
        responses: {
          "201": {
            description: "the body is done: the finished job with counts and rejected rows",
            headers: jobLocation,
            content: { "application/json": { schema: { $ref: "#/components/schemas/ImportJob" } } },
          },
          "400": errorResponse(
            "invalid_csv_header or unknown_attributes (nothing stored, no job); malformed_csv (a CSV syntax error: the import stopped at details.line), " +
              "malformed_body (bad gzip), request_aborted: details carry job_id and the counts so far",
          ),
          "401": errorResponse("missing, unknown or revoked API key"),
          "408": errorResponse("request_timeout: no body bytes for 60 s; details carry job_id and the counts so far"),
          "415": errorResponse("unsupported_media_type (not NDJSON or CSV, or not UTF-8) or unsupported_encoding"),
          "429": errorResponse("rate_limited: the requests limit", retryAfter),
          "503": errorResponse("dependency_unavailable: what was committed stays (details: job_id, accepted); re-upload the file", retryAfter),
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
