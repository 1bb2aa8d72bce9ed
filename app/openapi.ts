/**
 * The OpenAPI document of `npm start`, which serves the ingest and query APIs
 * on one port: both documents' paths, and the ingest document's components
 * (its $refs point into them).
 */
import { openapi as ingestOpenApi } from "./ingest/openapi";
import { queryOpenApi } from "./query/openapi";

export const combinedOpenApi = {
  ...queryOpenApi,
  info: { title: "Atlas Telemetry API", version: "1.0.0" },
  components: { ...queryOpenApi.components, schemas: { ...queryOpenApi.components.schemas, ...ingestOpenApi.components.schemas } },
  paths: { ...ingestOpenApi.paths, ...queryOpenApi.paths },
};
