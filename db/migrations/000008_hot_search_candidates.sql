-- GIN candidates for hot-attribute searches under row-level security.
--
-- For a role subject to RLS (atlas_app), PostgreSQL evaluates a qual ahead of
-- the policy's qual only when its functions are LEAKPROOF; jsonb containment
-- (@>) is not, so tenant queries never use the GIN index on `hot` (measured:
-- app/query/README.md). This function runs as atlas_writer, to which the
-- projection's policy does not apply (BYPASSRLS, or the permissive writer_all
-- policy), so its containment test is an index condition. It is still
-- tenant-scoped: it reads the tenant of the calling transaction and returns
-- nothing when none is set (fail closed). Callers join its ids back under RLS,
-- so RLS remains the final gate; it only ever narrows the rows to look at.
--
-- p_any: rows whose hot document contains ANY of these documents.
-- p_cap: at most this many ids (a caller asks for cap + 1 to learn whether the
-- filter is too common for the index to pay).

CREATE FUNCTION atlas_hot_candidates(p_any jsonb[], p_cap int) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
  SELECT e.entity_id
  FROM entity_jsonb e
  WHERE e.tenant_id = atlas_current_tenant()
    AND e.hot @> ANY (p_any)
  LIMIT p_cap
$$;

ALTER FUNCTION atlas_hot_candidates(jsonb[], int) OWNER TO atlas_writer;
REVOKE ALL ON FUNCTION atlas_hot_candidates(jsonb[], int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atlas_hot_candidates(jsonb[], int) TO atlas_app;
