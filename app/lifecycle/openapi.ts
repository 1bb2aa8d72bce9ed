/** OpenAPI 3.0 operations of the lifecycle API (router.ts), merged into the query API's document. */
import { standardErrors } from "../shared/http/openapi-parts";

const errors = standardErrors;

const job = {
  type: "object",
  required: ["job_id", "kind", "state"],
  properties: {
    job_id: { type: "string", format: "uuid" },
    kind: { type: "string", enum: ["delete_entity", "delete_attribute_range", "import"] },
    state: { type: "string", enum: ["queued", "running", "succeeded", "failed"] },
    params: { type: "object" },
    progress: { type: "object", description: "{done, total, step} of a deletion; rows read, accepted and rejected of an import" },
    result: {
      type: "object",
      description:
        "Deletions: removed rows per store ({history, latest, projection, entities, cache_entries}); the warehouse follows through the change stream, replicas by replication. Imports: accepted, rejected and the rejected rows with reasons.",
    },
    error: { type: "string", nullable: true },
    created_at: { type: "string", format: "date-time" },
    started_at: { type: "string", format: "date-time", nullable: true },
    finished_at: { type: "string", format: "date-time", nullable: true },
  },
};
const accepted = {
  description: "Accepted: the job is queued; poll Location",
  headers: { Location: { description: "/v1/jobs/{job_id}", schema: { type: "string" } } },
  content: { "application/json": { schema: job } },
};
const idParam = { name: "id", in: "path", required: true, schema: { type: "integer", minimum: 1 } };

export const lifecyclePaths = {
  "/v1/entities/{id}": {
    delete: {
      summary: "Delete everything of an entity (history, latest values, search document, cache; the warehouse through CDC), as a job",
      description: "A reading for the entity that arrives after the delete creates a new entity.",
      parameters: [idParam],
      responses: { "202": accepted, ...errors },
    },
  },
  "/v1/entities/{id}/attributes/{name}": {
    delete: {
      summary: "Delete one attribute's history in [from, to), as a job; when that held the latest value, the next-newest becomes latest",
      parameters: [
        idParam,
        { name: "name", in: "path", required: true, schema: { type: "string" } },
        { name: "from", in: "query", required: true, schema: { type: "string", format: "date-time" } },
        { name: "to", in: "query", required: true, description: "Exclusive; after from", schema: { type: "string", format: "date-time" } },
      ],
      responses: { "202": accepted, ...errors },
    },
  },
  "/v1/jobs/{id}": {
    get: {
      summary: "State, progress and outcome of a job of the caller's tenant (another tenant's job is not found)",
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string", format: "uuid" } }],
      responses: { "200": { description: "OK", content: { "application/json": { schema: job } } }, ...errors },
    },
  },
  "/v1/retention": {
    get: {
      summary: "The tenant's retention, its oldest reading, when that is dropped, and how far partitions are made ahead",
      responses: {
        "200": {
          description: "OK",
          content: {
            "application/json": {
              schema: {
                type: "object",
                required: ["retention_days", "oldest_data", "next_drop", "partitions_ahead_days"],
                properties: {
                  retention_days: { type: "integer", description: "Readings older than this are refused at ingest" },
                  oldest_data: { type: "string", format: "date-time", nullable: true },
                  next_drop: { type: "string", format: "date-time", nullable: true, description: "When the oldest reading's day partition becomes droppable (maintenance runs hourly)" },
                  partitions_ahead_days: { type: "integer" },
                  drop_retention_days: { type: "integer", description: "Partitions are dropped past the longest retention of any tenant" },
                  last_maintenance: { type: "string", format: "date-time", nullable: true },
                },
              },
            },
          },
        },
        ...errors,
      },
    },
  },
};
