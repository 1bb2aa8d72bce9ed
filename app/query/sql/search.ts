/**
 * The hot-attribute search over the projection: filtered, newest update
 * first, keyset-paged. Run inside withTenant (RLS); the explicit tenant_id
 * predicate is for the indexes, not for isolation.
 *
 * Under RLS the planner cannot use the GIN index on `hot` (jsonb @> is not
 * LEAKPROOF), and no single plan wins everywhere (app/query/README.md):
 *  1. the tenant's newest `windowRows` rows, in index order: a common filter
 *     fills the page here after a few rows;
 *  2. the window did not fill the page and the tenant has more rows: the GIN
 *     candidates of the filters' containment condition
 *     (atlas_hot_candidates, migration 000008), at most `candidateCap` of
 *     them, joined back under RLS with every filter re-applied;
 *  3. more candidates than that: the filter is common after all, so the
 *     ordered scan of step 1 without its window.
 * Every step answers exactly the same rows; only the cost differs.
 */
import type { PoolClient } from "pg";
import { buildFilterSql, type FilterSql, type ParsedFilter } from "../search/filters";
import type { CursorPosition } from "../search/cursor";
import { attributesOf, entityTypeOf, toEntityView, type EntityRow, type EntityView } from "./entities";

export interface SearchPlan {
  /** Newest rows of the tenant scanned in order before asking the GIN index. Defaults to 20,000. */
  windowRows: number;
  /** Most GIN candidates joined back; beyond it the ordered scan answers. Defaults to 5,000. */
  candidateCap: number;
}

export const DEFAULT_SEARCH_PLAN: SearchPlan = { windowRows: 20_000, candidateCap: 5_000 };

export interface SearchPage {
  entities: EntityView[];
  /** Position of the last row when there are more rows, else null. */
  next: CursorPosition | null;
}

type Scope = { window: number } | { ids: string[] } | null;

/** Recency order, which entity_jsonb_recent serves and the cursor follows. */
const ORDER = "ORDER BY updated_at DESC, entity_id DESC";

/** The rows after the cursor in that order, as WHERE conditions (none without a cursor); binds its values. */
function afterCursor(after: CursorPosition | null, bind: (v: unknown) => string): string[] {
  return after ? [`(updated_at, entity_id) < (${bind(after.updatedAt)}::timestamptz, ${bind(after.entityId)}::bigint)`] : [];
}

function pageSql(tenantId: string, f: FilterSql, after: CursorPosition | null, limit: number, scope: Scope) {
  const params: unknown[] = [tenantId, ...f.params];
  const bind = (v: unknown) => `$${params.push(v)}`;
  const keyset = afterCursor(after, bind);
  let from = "entity_jsonb";
  const where = ["tenant_id = $1", ...f.clauses];
  if (scope && "window" in scope) {
    from = `(SELECT * FROM entity_jsonb WHERE ${["tenant_id = $1", ...keyset].join(" AND ")} ${ORDER} LIMIT ${bind(scope.window)}) w`;
  } else {
    where.push(...keyset);
    if (scope) where.push(`entity_id = ANY(${bind(scope.ids)}::bigint[])`);
  }
  // Output columns must not be named like the ORDER BY columns: ORDER BY binds
  // output names first, and entity_id::text would then sort as text.
  // The page's types and latest values are read for its rows only, after the LIMIT.
  const text = `SELECT p.id, ${entityTypeOf("p")} AS entity_type, ${attributesOf("p")} AS attributes, p.updated_at, p.position
    FROM (SELECT tenant_id, entity_id, entity_id::text AS id, updated_at,
        to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS position
      FROM ${from}
      WHERE ${where.join("\n        AND ")}
      ${ORDER}
      LIMIT ${bind(limit + 1)}) p
    ORDER BY p.updated_at DESC, p.entity_id DESC`;
  return { text, params };
}

/** The ordered-scan statement (step 3) and its parameters: for EXPLAIN checks and the benchmark's baseline. */
export function searchSql(tenantId: string, filters: readonly ParsedFilter[], after: CursorPosition | null, limit: number) {
  return pageSql(tenantId, buildFilterSql(filters, 2), after, limit, null);
}

type PageRow = Omit<EntityRow, "entity_id"> & { id: string; position: string };

export async function searchEntities(
  client: PoolClient,
  tenantId: string,
  filters: readonly ParsedFilter[],
  after: CursorPosition | null,
  limit: number,
  plan: SearchPlan = DEFAULT_SEARCH_PLAN,
): Promise<SearchPage> {
  const f = buildFilterSql(filters, 2);
  const run = async (scope: Scope) => {
    const q = pageSql(tenantId, f, after, limit, scope);
    return (await client.query<PageRow>(q.text, q.params)).rows;
  };
  let rows: PageRow[];
  if (f.containsAny === null) {
    rows = await run(null);
  } else {
    rows = await run({ window: plan.windowRows });
    if (rows.length <= limit && (await hasMoreThan(client, tenantId, after, plan.windowRows))) {
      const { rows: c } = await client.query<{ ids: string[] }>(
        "SELECT array(SELECT atlas_hot_candidates($1::jsonb[], $2)::text) AS ids",
        [f.containsAny, plan.candidateCap + 1],
      );
      rows = await run(c[0].ids.length <= plan.candidateCap ? { ids: c[0].ids } : null);
    }
  }
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page[page.length - 1];
  return {
    entities: page.map((r) => toEntityView({ ...r, entity_id: r.id })),
    next: more && last ? { updatedAt: last.position, entityId: last.id } : null,
  };
}

/** Whether the tenant has more than `n` rows past the cursor (an index-only walk of the recency index). */
async function hasMoreThan(client: PoolClient, tenantId: string, after: CursorPosition | null, n: number): Promise<boolean> {
  const params: unknown[] = [tenantId, n];
  const where = ["tenant_id = $1", ...afterCursor(after, (v) => `$${params.push(v)}`)];
  const { rows } = await client.query(`SELECT 1 FROM entity_jsonb WHERE ${where.join(" AND ")} ${ORDER} OFFSET $2 LIMIT 1`, params);
  return rows.length > 0;
}
