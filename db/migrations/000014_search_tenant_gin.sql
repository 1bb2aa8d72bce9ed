-- Hot-attribute search: GIN keys per tenant.
--
-- entity_jsonb_hot (000004) indexed `hot` alone, so the candidates of a
-- containment (atlas_hot_candidates, 000008) were every tenant's rows holding
-- the value, filtered to the caller's tenant after the heap visit: a value
-- common in other tenants cost their postings too (app/query/README.md).
-- jsonb_path_ops hashes the whole path to each value, so indexing
-- {"<tenant id>": hot} gives keys that already carry the tenant: the posting
-- list of {"<tenant>": {"status": "error"}} holds exactly that tenant's rows.
-- The new index replaces the old one (same number of keys per row, so the
-- write path maintains one GIN index as before).

-- The indexed document. IMMUTABLE is true: uuid's text form and
-- jsonb_build_object of a text key and a jsonb value depend on nothing else.
-- STRICT: no tenant gives no document, so a caller without app.tenant_id
-- matches nothing (fail closed).
CREATE FUNCTION atlas_tenant_hot(p_tenant uuid, p_hot jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT jsonb_build_object(p_tenant::text, p_hot) $$;

CREATE INDEX entity_jsonb_hot_by_tenant ON entity_jsonb USING gin (atlas_tenant_hot(tenant_id, hot) jsonb_path_ops);
DROP INDEX entity_jsonb_hot;

-- Same contract as 000008: ids of the calling tenant's rows whose hot
-- document contains ANY of p_any, at most p_cap, as atlas_writer (the policy
-- does not restrict it, so containment can be an index condition), the tenant
-- read from the transaction. Bitmap scans are switched on for this function
-- only: GIN answers nothing else, and the search turns them off for its
-- ordered walks (app/query/sql/search.ts).
CREATE OR REPLACE FUNCTION atlas_hot_candidates(p_any jsonb[], p_cap int) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
SET enable_bitmapscan = on
AS $$
  SELECT e.entity_id
  FROM entity_jsonb e
  WHERE e.tenant_id = atlas_current_tenant()
    AND atlas_tenant_hot(e.tenant_id, e.hot) @> ANY (ARRAY(SELECT atlas_tenant_hot(atlas_current_tenant(), d) FROM unnest(p_any) d))
  LIMIT p_cap
$$;

ALTER FUNCTION atlas_hot_candidates(jsonb[], int) OWNER TO atlas_writer;
REVOKE ALL ON FUNCTION atlas_hot_candidates(jsonb[], int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atlas_hot_candidates(jsonb[], int) TO atlas_app;
