/**
 * The hot-attribute search over the projection: filtered, newest update
 * first, keyset-paged. Run inside withTenant (RLS); the explicit tenant_id
 * predicate is for the indexes, not for isolation.
 *
 * Under RLS the planner cannot use the GIN index on `hot` (jsonb @> is not
 * LEAKPROOF), and no single plan wins everywhere (app/query/README.md):
 *  1. the tenant's newest `windowRows` rows, walked in recency-index order:
 *     a common filter fills the page here after a few rows;
 *  2. the window did not fill the page and the tenant has more rows. The
 *     window measured the filters' selectivity: if walking on is expected to
 *     fill the page within `walkBudgetRows`, the ordered walk without a
 *     window answers;
 *  3. otherwise the GIN candidates of the filters' containment condition
 *     (atlas_hot_candidates, migrations 000008 and 000014: the index keys
 *     carry the tenant), at most `candidateCap` of them, joined back under
 *     RLS with every filter re-applied;
 *  4. more candidates than that: the ordered walk without a window.
 * Every step answers exactly the same rows; only the cost differs.
 */
import type { PoolClient } from "pg";
import { buildFilterSql, type FilterSql, type ParsedFilter } from "../search/filters";
import type { CursorPosition } from "../search/cursor";
import { attributesOf, entityTypeOf, toEntityView, type EntityRow, type EntityView } from "./entities";

export interface SearchPlan {
  /** Newest rows of the tenant walked in order first. Defaults to 2,000. */
  windowRows: number;
  /** Most GIN candidates joined back; beyond it the ordered walk answers. Defaults to 5,000. */
  candidateCap: number;
  /**
   * After a window that did not fill the page, walk on (rather than ask the
   * GIN index) when the rows expected to fill it, at the window's observed
   * match rate, are at most this many. Defaults to 10,000: a walked row costs
   * about half a joined-back candidate (app/query/README.md).
   */
  walkBudgetRows: number;
}

export const DEFAULT_SEARCH_PLAN: SearchPlan = { windowRows: 2_000, candidateCap: 5_000, walkBudgetRows: 10_000 };

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
    // Candidates as a join, so each is one primary-key probe: as
    // `entity_id = ANY(ids)` the planner walked the recency index and
    // compared every row of the tenant with every id (2,574 ids: 100 ms).
    if (scope) from = `unnest(${bind(scope.ids)}::bigint[]) AS c(id) JOIN entity_jsonb ON entity_id = c.id`;
  }
  const pageRows = bind(limit + 1);
  // Output columns must not be named like the ORDER BY columns: ORDER BY binds
  // output names first, and entity_id::text would then sort as text.
  const page = `SELECT tenant_id, entity_id, entity_id::text AS id, updated_at,
        to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS position
      FROM ${from}
      WHERE ${where.join("\n        AND ")}
      ${ORDER}
      LIMIT ${pageRows}`;
  // The page's types and latest values are read for its rows only, after the
  // LIMIT: they are most of a page's cost (0.1 ms an entity).
  const rendered = (keep: string) => `CASE WHEN ${keep} THEN ${entityTypeOf("p")} END AS entity_type,
      CASE WHEN ${keep} THEN ${attributesOf("p")} END AS attributes`;
  if (!(scope && "window" in scope)) {
    const text = `SELECT p.id, ${rendered("true")}, p.updated_at, p.position, NULL::boolean AS more
    FROM (${page}) p
    ORDER BY p.updated_at DESC, p.entity_id DESC`;
    return { text, params };
  }
  // A window is a guess: it renders its rows only when they are the answer
  // (a full page, or the window held the rest of the tenant), and says
  // whether the tenant has rows past it (one index-only walk, evaluated only
  // when the page is not full). One row even when nothing matched, for `more`.
  const full = `${bind(limit)}::bigint`;
  const beyond = `EXISTS (SELECT 1 FROM entity_jsonb WHERE ${["tenant_id = $1", ...keyset].join(" AND ")} ${ORDER} OFFSET ${bind(scope.window)})`;
  const text = `SELECT p.id, ${rendered("p.keep")}, p.updated_at, p.position, p.more
    FROM (SELECT q.*, (q.n > ${full} OR NOT ${beyond}) AS keep,
            CASE WHEN q.n > ${full} THEN NULL ELSE ${beyond} END AS more
          FROM (SELECT 1) one LEFT JOIN (SELECT i.*, count(*) OVER () AS n FROM (${page}) i) q ON true) p
    ORDER BY p.updated_at DESC NULLS LAST, p.entity_id DESC`;
  return { text, params };
}

/** The ordered-scan statement (step 3) and its parameters: for EXPLAIN checks and the benchmark's baseline. */
export function searchSql(tenantId: string, filters: readonly ParsedFilter[], after: CursorPosition | null, limit: number) {
  return pageSql(tenantId, buildFilterSql(filters, 2), after, limit, null);
}

/**
 * The planner, left alone, answers the ordered statements with a bitmap scan
 * of the whole tenant and a sort: it cannot estimate jsonb containment
 * (default 1 % selectivity), and a window of 20,000 of a 25,000-row tenant
 * looks cheaper to sort than to walk, so it read and sorted every row of the
 * tenant (25,000 rows, 8.2 ms, the window spilled to disk) where the page
 * needed the first 957 in index order (1.5 ms; app/query/README.md). Only
 * index scans are left to it for this read-only transaction: the recency
 * index for the ordered walks, the primary key for the candidates' join back.
 */
const ORDERED_WALK = "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off";

/** A page row; `more` says, on a window that is not a full page, whether the tenant has rows past the window. */
type PageRow = Omit<EntityRow, "entity_id"> & { id: string; position: string; more: boolean | null };

export async function searchEntities(
  client: PoolClient,
  tenantId: string,
  filters: readonly ParsedFilter[],
  after: CursorPosition | null,
  limit: number,
  plan: SearchPlan = DEFAULT_SEARCH_PLAN,
): Promise<SearchPage> {
  const f = buildFilterSql(filters, 2);
  await client.query(ORDERED_WALK);
  const run = async (scope: Scope) => {
    const q = pageSql(tenantId, f, after, limit, scope);
    return (await client.query<PageRow>(q.text, q.params)).rows;
  };
  let rows: PageRow[];
  if (f.containsAny === null) {
    rows = await run(null);
  } else {
    const first = await run({ window: plan.windowRows });
    const matched = first.filter((r) => r.id !== null);
    // `more` is null on a full page and false when the window held the rest
    // of the tenant: either way the window's rows are the answer.
    if (first[0].more !== true) rows = matched;
    else {
      const expectedWalk = matched.length > 0 ? (plan.windowRows * (limit + 1)) / matched.length : Infinity;
      if (expectedWalk <= plan.walkBudgetRows) rows = await run(null);
      else {
        const { rows: c } = await client.query<{ ids: string[] }>(
          "SELECT array(SELECT atlas_hot_candidates($1::jsonb[], $2)::text) AS ids",
          [f.containsAny, plan.candidateCap + 1],
        );
        rows = await run(c[0].ids.length <= plan.candidateCap ? { ids: c[0].ids } : null);
      }
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
