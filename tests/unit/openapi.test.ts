/**
 * The documents served at /openapi.json (ingest, query, and npm start's
 * combined one) validate with a standard OpenAPI validator
 * (@apidevtools/swagger-parser: the OpenAPI 3.0 schema, and every $ref
 * resolves), as JSON: what a client downloads.
 */
import SwaggerParser from "@apidevtools/swagger-parser";
import { expect } from "chai";
import { openapi as ingestOpenApi } from "../../app/ingest/openapi";
import { combinedOpenApi } from "../../app/openapi";
import { queryOpenApi } from "../../app/query/openapi";

const documents: Array<[string, object]> = [
  ["ingest", ingestOpenApi],
  ["query", queryOpenApi],
  ["npm start (combined)", combinedOpenApi],
];

describe("the served OpenAPI documents", () => {
  for (const [name, doc] of documents) {
    it(`the ${name} document validates as OpenAPI 3 and every $ref resolves`, async () => {
      const served = JSON.parse(JSON.stringify(doc));
      await SwaggerParser.validate(served);
    });
  }

  it("the combined document has every path of both services", () => {
    const paths = Object.keys(combinedOpenApi.paths);
    for (const p of [...Object.keys(ingestOpenApi.paths), ...Object.keys(queryOpenApi.paths)]) expect(paths).to.include(p);
    expect(paths).to.include.members(["/v1/entities/batch-get", "/v1/telemetry"]);
  });
});
