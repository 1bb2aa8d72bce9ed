/**
 * Prometheus metrics (prom-client: the standard registry, histograms and
 * process metrics, better kept than anything hand-written). One registry per
 * process; `/metrics` serves it in text format.
 */
import type { RequestHandler } from "express";
import client from "prom-client";

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry, prefix: "atlas_" });
// prom-client's default gauges of active handles, requests and resources end
// in _total, which names counters (promtool check metrics refuses them); the
// same counts by type stay (atlas_nodejs_active_handles{type} and so on).
for (const name of ["handles", "requests", "resources"]) registry.removeSingleMetric(`atlas_nodejs_active_${name}_total`);

export function counter(name: string, help: string, labelNames: string[] = []) {
  return (registry.getSingleMetric(name) as client.Counter) ?? new client.Counter({ name, help, labelNames, registers: [registry] });
}

export function gauge(name: string, help: string, labelNames: string[] = []) {
  return (registry.getSingleMetric(name) as client.Gauge) ?? new client.Gauge({ name, help, labelNames, registers: [registry] });
}

export function histogram(name: string, help: string, labelNames: string[] = [], buckets?: number[]) {
  return (
    (registry.getSingleMetric(name) as client.Histogram) ??
    new client.Histogram({ name, help, labelNames, buckets, registers: [registry] })
  );
}

const httpDuration = histogram(
  "atlas_http_request_duration_seconds",
  "HTTP request duration by route and status",
  ["method", "route", "status"],
  [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
);

/** Times every request; labels with the matched route pattern, never the raw path (ids would explode cardinality). */
export const httpMetrics: RequestHandler = (req, res, next) => {
  const end = httpDuration.startTimer();
  res.on("finish", () => {
    const route = (req.route?.path as string | undefined) ?? "unmatched";
    end({ method: req.method, route: `${req.baseUrl}${route}`, status: String(res.statusCode) });
  });
  next();
};

export const metricsRoute: RequestHandler = async (_req, res, next) => {
  try {
    res.setHeader("Content-Type", registry.contentType);
    res.end(await registry.metrics());
  } catch (err) {
    next(err);
  }
};
