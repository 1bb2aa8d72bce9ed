-- The flush, measured (db/README.md "Measured"): 000009's stage_flush spent
-- its time in two places that do not depend on the data layout.
--  * entity_jsonb.entity_type copied the entity's type into the search
--    document, so the projection upsert joined the batch's entities. The
--    planner sees no statistics for rows inside one statement (every CTE of a
--    staged batch is estimated at 1 row) and joined them by nested loop:
--    quadratic in the entities of a batch (5,500 values, 394 entities:
--    155k comparisons, 61 of 620 ms; a 50k-value batch: ~100×). The type
--    lives in `entities` (its one home); readers join it by primary key.
--  * atlas_check_staged probed `attributes` once per staged value; now once
--    per distinct (tenant, attribute, value shape) of the batch (below).
--  * Registering new entities probed `entities` once per staged VALUE; now
--    once per entity of the batch.
--  * atlas_value_json and atlas_iso were declared IMMUTABLE over STABLE
--    built-ins (to_jsonb, to_char), which stops PostgreSQL from inlining
--    them: every hot value was a separate SQL function call (~17 us each).
--    STABLE is what they are, and lets the planner inline them.
ALTER FUNCTION atlas_iso(timestamptz) STABLE;
ALTER FUNCTION atlas_value_json(text, bigint, double precision, boolean, text, timestamptz) STABLE;
ALTER TABLE entity_jsonb DROP COLUMN entity_type;

CREATE OR REPLACE FUNCTION stage_flush(p_batch_id uuid)
RETURNS TABLE (tenant_id uuid, entity_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  PERFORM atlas_check_staged(p_batch_id);

  RETURN QUERY
  WITH staged AS (
    SELECT * FROM entity_values_staging WHERE batch_id = p_batch_id
  ), batch_entities AS (
    -- One row per entity with its staged type; an entity already registered
    -- keeps its type (ON CONFLICT DO NOTHING probes the key and skips).
    SELECT DISTINCT ON (s.tenant_id, s.entity_id)
           s.tenant_id, s.entity_id, coalesce(s.entity_type, 'unknown') AS entity_type
    FROM staged s
    ORDER BY s.tenant_id, s.entity_id, s.entity_type IS NULL, s.ts DESC
  ), new_entities AS (
    INSERT INTO entities (tenant_id, entity_id, entity_type)
    SELECT b.tenant_id, b.entity_id, b.entity_type FROM batch_entities b
    ORDER BY b.tenant_id, b.entity_id
    ON CONFLICT DO NOTHING
  ), inserted AS (
    INSERT INTO entity_values_ts
      (tenant_id, entity_id, attribute_id, ts, received_at,
       value_int, value_decimal, value_bool, value_string, value_ts)
    SELECT s.tenant_id, s.entity_id, s.attribute_id, s.ts, s.received_at,
           s.value_int, s.value_decimal, s.value_bool, s.value_string, s.value_ts
    FROM staged s
    ON CONFLICT DO NOTHING
    RETURNING entity_values_ts.tenant_id, entity_values_ts.entity_id, entity_values_ts.attribute_id, entity_values_ts.ts,
              value_int, value_decimal, value_bool, value_string, value_ts
  ), newest AS (
    -- Per entity and attribute, the newest device time of this batch (unique:
    -- ts is part of history's key).
    SELECT DISTINCT ON (i.tenant_id, i.entity_id, i.attribute_id) i.*
    FROM inserted i
    ORDER BY i.tenant_id, i.entity_id, i.attribute_id, i.ts DESC
  ), changed AS (
    INSERT INTO entity_latest AS l
      (tenant_id, entity_id, attribute_id, ts, value_int, value_decimal, value_bool, value_string, value_ts)
    SELECT n.tenant_id, n.entity_id, n.attribute_id, n.ts, n.value_int, n.value_decimal, n.value_bool, n.value_string, n.value_ts
    FROM newest n
    ORDER BY n.tenant_id, n.entity_id, n.attribute_id
    ON CONFLICT (tenant_id, entity_id, attribute_id) DO UPDATE SET
      ts = EXCLUDED.ts, value_int = EXCLUDED.value_int, value_decimal = EXCLUDED.value_decimal,
      value_bool = EXCLUDED.value_bool, value_string = EXCLUDED.value_string, value_ts = EXCLUDED.value_ts
    WHERE EXCLUDED.ts > l.ts
    RETURNING l.tenant_id, l.entity_id, l.attribute_id, l.ts, l.value_int, l.value_decimal, l.value_bool, l.value_string, l.value_ts
  ), delta AS (
    SELECT c.tenant_id, c.entity_id,
           coalesce(jsonb_object_agg(a.name, atlas_value_json(a.data_type, c.value_int, c.value_decimal, c.value_bool, c.value_string, c.value_ts))
                    FILTER (WHERE a.is_hot), '{}'::jsonb) AS hot,
           max(c.ts) AS newest_ts
    FROM changed c
    JOIN attributes a ON a.tenant_id = c.tenant_id AND a.attribute_id = c.attribute_id
    GROUP BY c.tenant_id, c.entity_id
  ), projected AS (
    INSERT INTO entity_jsonb AS j (tenant_id, entity_id, hot, updated_at)
    SELECT d.tenant_id, d.entity_id, d.hot, d.newest_ts
    FROM delta d
    ORDER BY d.tenant_id, d.entity_id
    ON CONFLICT (tenant_id, entity_id) DO UPDATE SET
      hot = j.hot || EXCLUDED.hot,
      updated_at = greatest(j.updated_at, EXCLUDED.updated_at)
    WHERE NOT j.hot @> EXCLUDED.hot OR EXCLUDED.updated_at > j.updated_at
  ), flushed AS (
    DELETE FROM entity_values_staging WHERE batch_id = p_batch_id
  )
  SELECT d.tenant_id, d.entity_id FROM delta d;
END
$$;


-- The last line of type checking, as one pass over the batch's DISTINCT
-- (tenant, attribute, staged shape) combinations rather than an attributes
-- probe per value (000009's took ~10 % of the flush): same refusals, same
-- messages (AT002, AT003).
CREATE OR REPLACE FUNCTION atlas_check_staged(p_batch_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_bad record;
BEGIN
  WITH shapes AS (
    SELECT s.tenant_id, s.attribute_id,
           num_nonnulls(s.value_int, s.value_decimal, s.value_bool, s.value_string, s.value_ts) AS n_values,
           CASE WHEN s.value_int IS NOT NULL THEN 'int'
                WHEN s.value_decimal IS NOT NULL THEN 'decimal'
                WHEN s.value_bool IS NOT NULL THEN 'bool'
                WHEN s.value_string IS NOT NULL THEN 'string'
                WHEN s.value_ts IS NOT NULL THEN 'timestamp' END AS staged_type,
           s.value_decimal IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8) AS non_finite
    FROM entity_values_staging s
    WHERE s.batch_id = p_batch_id
    GROUP BY 1, 2, 3, 4, 5
  )
  SELECT sh.tenant_id, sh.attribute_id, a.name, a.data_type, sh.n_values, sh.staged_type, sh.non_finite
    INTO v_bad
  FROM shapes sh
  LEFT JOIN attributes a ON a.tenant_id = sh.tenant_id AND a.attribute_id = sh.attribute_id
  WHERE a.attribute_id IS NULL OR sh.n_values <> 1 OR sh.non_finite IS TRUE OR sh.staged_type IS DISTINCT FROM a.data_type
  LIMIT 1;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF v_bad.name IS NULL THEN
    RAISE EXCEPTION 'stage_flush: attribute id % is not an attribute of tenant %', v_bad.attribute_id, v_bad.tenant_id
      USING ERRCODE = 'AT003';
  ELSIF v_bad.n_values <> 1 THEN
    RAISE EXCEPTION 'stage_flush: a value of attribute "%" (tenant %) must fill exactly one value column, found %',
      v_bad.name, v_bad.tenant_id, v_bad.n_values
      USING ERRCODE = 'AT002';
  ELSIF v_bad.non_finite AND v_bad.data_type = 'decimal' THEN
    RAISE EXCEPTION 'stage_flush: a value of attribute "%" (tenant %) is not a finite number',
      v_bad.name, v_bad.tenant_id
      USING ERRCODE = 'AT002';
  ELSE
    RAISE EXCEPTION 'stage_flush: attribute "%" (tenant %) is %, but a value arrived as %',
      v_bad.name, v_bad.tenant_id, v_bad.data_type, v_bad.staged_type
      USING ERRCODE = 'AT002';
  END IF;
END
$$;
