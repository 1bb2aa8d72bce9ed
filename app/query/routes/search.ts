/** POST /v1/entities/search: AND-combined filters on hot attributes, newest update first, keyset-paged. */
import type { Request, Response } from "express";
import { tenantOf } from "../../shared/http/auth";
import { badRequest } from "../../shared/http/errors";
import { cachedSearch } from "../cache";
import { oltpPolicy, QueryContext, sendWithFreshness } from "../context";
import { routeRead } from "../routing/route-read";
import { CursorPosition, decodeCursor, encodeCursor } from "../search/cursor";
import { filterHash, parseFilters } from "../search/filters";
import { searchEntities } from "../sql/search";

export const DEFAULT_SEARCH_LIMIT = 100;
export const MAX_SEARCH_LIMIT = 1000;

function parseLimit(raw: unknown): number {
  if (raw === undefined || raw === null) return DEFAULT_SEARCH_LIMIT;
  if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 1 || raw > MAX_SEARCH_LIMIT) {
    throw badRequest("invalid_parameter", `limit must be an integer from 1 to ${MAX_SEARCH_LIMIT}`, "limit");
  }
  return raw;
}

/** The attribute names a filters array mentions (to make sure the dictionary knows them). */
function mentionedNames(filters: unknown): string[] {
  if (!Array.isArray(filters)) return [];
  return filters.flatMap((f) => (typeof f === "object" && f !== null && typeof (f as { attribute?: unknown }).attribute === "string" ? [(f as { attribute: string }).attribute] : []));
}

export function searchHandler(ctx: QueryContext) {
  return async (req: Request, res: Response): Promise<void> => {
    const started = process.hrtime.bigint();
    const tenantId = tenantOf(res);
    const policy = oltpPolicy(ctx, req.headers);
    const body: unknown = req.body;
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw badRequest("invalid_body", "body must be a JSON object {filters, limit, cursor}", "body");
    }
    const { filters: rawFilters, limit: rawLimit, cursor } = body as Record<string, unknown>;
    const limit = parseLimit(rawLimit);
    const dict = await ctx.catalog.dictionary(tenantId, mentionedNames(rawFilters));
    const filters = parseFilters(rawFilters, dict);
    const hash = filterHash(filters);
    let after: CursorPosition | null = null;
    if (cursor !== undefined && cursor !== null) {
      if (typeof cursor !== "string") throw badRequest("invalid_cursor", "cursor must be a string or null", "cursor");
      after = decodeCursor(ctx.cursorSecret, tenantId, hash, cursor);
    }
    const r = await cachedSearch(ctx, policy, tenantId, { hash, after, limit }, async () => {
      const read = await routeRead(ctx.primary, ctx.replicas, policy, tenantId, (c) => searchEntities(c, tenantId, filters, after, limit, ctx.searchPlan));
      const page = read.value;
      return {
        ...read,
        value: { entities: page.entities, next_cursor: page.next ? encodeCursor(ctx.cursorSecret, tenantId, hash, page.next) : null },
      };
    });
    sendWithFreshness(res, "search", r.value, { source: r.source, lagSeconds: r.lagSeconds, consistency: policy.level, cacheStatus: r.cacheStatus }, started);
  };
}
