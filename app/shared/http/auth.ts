/**
 * API-key authentication: `Authorization: Bearer <key>` maps to exactly one
 * tenant. Lookups are cached briefly in process so the hot path does not hit
 * PostgreSQL on every request; a revoked key, or a deactivated tenant's, stops
 * working within the TTL. One second: an operator's `tenant deactivate` must
 * answer 401 within a second on every task, and a lookup per key per second
 * per task is a negligible load (a primary-key probe).
 */
import type { RequestHandler } from "express";
import { AppError } from "./errors";

/** Resolves a presented key to its tenant id, or null when unknown or revoked. */
export type Authenticator = (apiKey: string) => Promise<string | null>;

export interface AuthOptions {
  /** How long a key→tenant answer (positive or negative) is trusted, ms. Defaults to 1 s. */
  cacheTtlMs?: number;
  /** Bound on cached keys. Defaults to 10,000. */
  maxEntries?: number;
}

const unauthorized = (message: string) => new AppError(401, "unauthorized", message, "Authorization");

export function requireApiKey(authenticate: Authenticator, opts: AuthOptions = {}): RequestHandler {
  const ttl = opts.cacheTtlMs ?? 1_000;
  const maxEntries = opts.maxEntries ?? 10_000;
  const cache = new Map<string, { tenantId: string | null; expires: number }>();

  return (req, res, next) => {
    const header = req.headers.authorization ?? "";
    const match = /^Bearer\s+(\S{1,512})$/i.exec(header);
    if (!match) return next(unauthorized("missing or malformed Authorization header; expected 'Bearer <api key>'"));
    const key = match[1];
    const now = Date.now();
    const hit = cache.get(key);
    const resolve = hit && hit.expires > now ? Promise.resolve(hit.tenantId) : authenticate(key);
    resolve
      .then((tenantId) => {
        if (!hit || hit.expires <= now) {
          if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
          cache.set(key, { tenantId, expires: now + ttl });
        }
        if (!tenantId) return next(unauthorized("unknown or revoked API key"));
        res.locals.tenantId = tenantId;
        next();
      })
      .catch(next);
  };
}

/** The tenant the auth middleware put on the response. */
export function tenantOf(res: { locals: Record<string, unknown> }): string {
  const tenantId = res.locals.tenantId;
  if (typeof tenantId !== "string") throw new Error("tenantOf called on an unauthenticated request");
  return tenantId;
}
