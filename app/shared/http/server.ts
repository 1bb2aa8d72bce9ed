/**
 * The common frame of every HTTP service: request metrics, health and
 * metrics routes, the service's own routers, the 404 and error handlers last,
 * and a graceful stop (stop accepting, let in-flight requests finish).
 */
import express, { Express, Router } from "express";
import http, { type Server } from "http";
import { errorMiddleware, notFoundRoute } from "./errors";
import { healthRoutes, ReadinessCheck } from "./health";
import { httpMetrics, metricsRoute } from "./metrics";

export interface ServiceAppOptions {
  routers: Router[];
  readiness: ReadinessCheck[];
  /** The OpenAPI document served at /openapi.json. */
  openapi: object;
}

export function createServiceApp(opts: ServiceAppOptions): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", true); // behind the ALB
  app.use(httpMetrics);
  app.use(healthRoutes(opts.readiness));
  app.get("/metrics", metricsRoute);
  app.get("/openapi.json", (_req, res) => {
    res.json(opts.openapi);
  });
  for (const router of opts.routers) app.use(router);
  app.use(notFoundRoute);
  app.use(errorMiddleware);
  return app;
}

export interface ListenOptions {
  /** Longest a client may take to send a whole request (headers and body), ms. Defaults to 30 s. */
  requestTimeoutMs?: number;
  /** Longest a client may take to send the headers, ms. Defaults to 10 s (at most the request timeout). */
  headersTimeoutMs?: number;
}

/**
 * Listens on `port` (0 = any free port, for tests); resolves once bound.
 * Slow-loris bodies must not hold sockets forever: a request not received
 * whole within the request timeout is answered 408 and its socket closed.
 * Node checks for such requests periodically: every quarter of the timeout
 * (at most 5 s), so a stalled socket lives at most 1.25× the timeout.
 */
export function listen(app: Express, port: number, host = "0.0.0.0", opts: ListenOptions = {}): Promise<Server> {
  const requestTimeout = opts.requestTimeoutMs ?? 30_000;
  const headersTimeout = Math.min(opts.headersTimeoutMs ?? 10_000, requestTimeout);
  const server = http.createServer(
    { requestTimeout, headersTimeout, connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(requestTimeout / 4))) },
    app,
  );
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections?.();
  });
}
