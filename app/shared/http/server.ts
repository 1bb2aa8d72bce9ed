/**
 * The common frame of every HTTP service: request metrics, health and
 * metrics routes, the service's own routers, the 404 and error handlers last,
 * and a graceful stop (stop accepting, let in-flight requests finish).
 */
import express, { Express, Router } from "express";
import type { Server } from "http";
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

/** Listens on `port` (0 = any free port, for tests); resolves once bound. */
export function listen(app: Express, port: number, host = "0.0.0.0"): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, () => resolve(server));
    server.once("error", reject);
    // Slow-loris bodies must not hold sockets forever.
    server.requestTimeout = 30_000;
    server.headersTimeout = 10_000;
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections?.();
  });
}
