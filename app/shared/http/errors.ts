/**
 * One error type for everything a client may see, and the one middleware,
 * registered last, that renders it. Anything else becomes a 500 without a
 * stack trace (the contract: "Never a stack trace").
 */
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from "express";
import { log } from "../log";

export class AppError extends Error {
  constructor(
    public readonly status: number,
    public readonly code: string,
    message: string,
    public readonly field?: string,
    /** Extra machine-readable detail (e.g. every bad reading of a batch). */
    public readonly details?: unknown,
    /** Seconds, sent as Retry-After (429, 503). */
    public readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "AppError";
  }
}

export const badRequest = (code: string, message: string, field?: string, details?: unknown) =>
  new AppError(400, code, message, field, details);
export const notFound = (message = "not found", field?: string, code = "not_found") => new AppError(404, code, message, field);
export const unavailable = (dependency: string, retryAfter = 5) =>
  new AppError(503, "dependency_unavailable", `${dependency} is unavailable, retry later`, undefined, undefined, retryAfter);

/** Express 4 does not catch rejected promises: wrap every async handler. */
export function asyncHandler(
  fn: (req: Request, res: Response, next: NextFunction) => Promise<unknown>,
): RequestHandler {
  return (req, res, next) => {
    fn(req, res, next).catch(next);
  };
}

const DB_DOWN_CODES = new Set(["57P01", "57P02", "57P03", "53300", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE"]);

/**
 * Whether an error says the database cannot be reached right now (shutting
 * down, restarting, refusing connections, the pool timing out), as opposed
 * to a fault of the request: the client should retry, so 503, not 500.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === "string" ? e.code : "";
  if (DB_DOWN_CODES.has(code) || code.startsWith("08")) return true;
  const message = typeof e?.message === "string" ? e.message : "";
  return /^(Connection terminated|timeout exceeded when trying to connect)/.test(message);
}

/** Maps body-parser and other library errors onto the contract's codes. */
function toAppError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  const e = err as { type?: string; status?: number; message?: string; code?: unknown };
  if (isDatabaseUnavailable(err)) {
    log.warn("database unavailable", { error: e?.message, code: e?.code });
    return unavailable("the database", 2);
  }
  // PostgreSQL text and jsonb cannot hold NUL (22021 character_not_in_repertoire,
  // 22P05 untranslatable_character): only a client's text gets that far, so
  // it is the client's 400 whichever route let it through (routes should
  // refuse it up front, naming the field; this is the safety net).
  if (e?.code === "22021" || e?.code === "22P05") {
    log.warn("client text refused by PostgreSQL; the route should validate it", { error: e.message });
    return new AppError(400, "invalid_text", "a value holds a character that cannot be stored or searched (NUL)");
  }
  switch (e?.type) {
    case "entity.too.large":
      return new AppError(413, "payload_too_large", "request body is larger than the limit");
    case "entity.parse.failed":
      return new AppError(400, "malformed_json", "request body is not valid JSON", "body");
    case "encoding.unsupported":
    case "charset.unsupported":
      return new AppError(415, "unsupported_encoding", e.message ?? "unsupported encoding");
    case "request.aborted":
      return new AppError(400, "request_aborted", "request body was not received completely", "body");
  }
  return undefined;
}

export const errorMiddleware: ErrorRequestHandler = (err, req, res, _next) => {
  const appErr = toAppError(err);
  if (!appErr) {
    log.error("unhandled error", { method: req.method, path: req.path, error: err });
  }
  const status = appErr?.status ?? 500;
  const body: Record<string, unknown> = {
    code: appErr?.code ?? "internal",
    message: appErr?.message ?? "internal error",
  };
  if (appErr?.field) body.field = appErr.field;
  if (appErr?.details !== undefined) body.details = appErr.details;
  if (appErr?.retryAfter !== undefined) res.setHeader("Retry-After", String(appErr.retryAfter));
  if (res.headersSent) return res.end();
  res.status(status).json({ error: body });
};

/** 404 for routes nobody serves, in the contract's error shape. */
export const notFoundRoute: RequestHandler = (_req, _res, next) => next(notFound("no such route"));
