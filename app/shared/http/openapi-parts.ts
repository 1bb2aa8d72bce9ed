/** OpenAPI pieces every API document shares: the error body of errors.ts. */
export const errorResponse = {
  description: "Error",
  content: {
    "application/json": {
      schema: {
        type: "object",
        properties: { error: { type: "object", properties: { code: { type: "string" }, message: { type: "string" }, field: { type: "string" } } } },
      },
    },
  },
};

/** The error statuses of an authenticated, rate-limited, database-backed route. */
export const standardErrors = { "400": errorResponse, "401": errorResponse, "404": errorResponse, "429": errorResponse, "503": errorResponse };
