-- Fixes to 000003/000004 (landed migrations are not edited):
--  * atlas_create_history_partition: no NOTICE per day when its temp table
--    already exists (maintenance over many days printed one each).
--  * stage_flush: a non-finite decimal (NaN, ±Infinity) is refused like a
--    mistyped value (AT002); ints beyond ±(2^53-1) go into the projection
--    as JSON strings, since a JSON number that large loses digits in
--    JavaScript. History keeps them as bigint either way.

CREATE OR REPLACE FUNCTION atlas_create_history_partition(p_day date) RETURNS bigint
LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
  v_from    timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
  v_to      timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
  v_partman text := atlas_partman_schema();
  v_moved   bigint := 0;
BEGIN
  IF EXISTS (SELECT 1 FROM atlas_history_partitions() p
             WHERE NOT p.is_default AND p.range_from < v_to AND p.range_to > v_from) THEN
    RETURN -1;
  END IF;

  IF to_regclass('pg_temp.atlas_partition_move') IS NULL THEN
    EXECUTE 'CREATE TEMP TABLE atlas_partition_move (LIKE entity_values_ts) ON COMMIT DROP';
  END IF;
  EXECUTE 'WITH moved AS (DELETE FROM entity_values_ts_default WHERE ts >= $1 AND ts < $2 RETURNING *)
           INSERT INTO atlas_partition_move SELECT * FROM moved'
    USING v_from, v_to;
  GET DIAGNOSTICS v_moved = ROW_COUNT;

  IF v_partman IS NOT NULL THEN
    -- pg_partman names and configures the child (template, privileges).
    EXECUTE format('SELECT %I.create_partition_time(%L, ARRAY[%L::timestamptz])',
                   v_partman, 'public.entity_values_ts', v_from);
  ELSE
    EXECUTE format('CREATE TABLE %I PARTITION OF entity_values_ts FOR VALUES FROM (%L) TO (%L)',
                   'entity_values_ts_p' || to_char(p_day, 'YYYYMMDD'), v_from, v_to);
  END IF;

  IF v_moved > 0 THEN
    EXECUTE 'INSERT INTO entity_values_ts SELECT * FROM atlas_partition_move';
    EXECUTE 'TRUNCATE atlas_partition_move';
  END IF;
  RETURN v_moved;
END
$$;

CREATE OR REPLACE FUNCTION stage_flush(p_batch_id uuid)
RETURNS TABLE (tenant_id uuid, entity_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_bad record;
BEGIN
  SELECT s.tenant_id, s.attribute_id, a.name, a.data_type,
         num_nonnulls(s.value_int, s.value_decimal, s.value_bool, s.value_string, s.value_ts) AS n_values,
         CASE WHEN s.value_int IS NOT NULL THEN 'int'
              WHEN s.value_decimal IS NOT NULL THEN 'decimal'
              WHEN s.value_bool IS NOT NULL THEN 'bool'
              WHEN s.value_string IS NOT NULL THEN 'string'
              WHEN s.value_ts IS NOT NULL THEN 'timestamp' END AS staged_type
    INTO v_bad
  FROM entity_values_staging s
  LEFT JOIN attributes a ON a.tenant_id = s.tenant_id AND a.attribute_id = s.attribute_id
  WHERE s.batch_id = p_batch_id
    AND (a.attribute_id IS NULL
         OR num_nonnulls(s.value_int, s.value_decimal, s.value_bool, s.value_string, s.value_ts) <> 1
         OR s.value_decimal IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)
         OR NOT CASE a.data_type
                  WHEN 'int' THEN s.value_int IS NOT NULL
                  WHEN 'decimal' THEN s.value_decimal IS NOT NULL
                  WHEN 'bool' THEN s.value_bool IS NOT NULL
                  WHEN 'string' THEN s.value_string IS NOT NULL
                  WHEN 'timestamp' THEN s.value_ts IS NOT NULL
                END)
  LIMIT 1;
  IF FOUND THEN
    IF v_bad.name IS NULL THEN
      RAISE EXCEPTION 'stage_flush: attribute id % is not an attribute of tenant %', v_bad.attribute_id, v_bad.tenant_id
        USING ERRCODE = 'AT003';
    ELSIF v_bad.n_values <> 1 THEN
      RAISE EXCEPTION 'stage_flush: a value of attribute "%" (tenant %) must fill exactly one value column, found %',
        v_bad.name, v_bad.tenant_id, v_bad.n_values
        USING ERRCODE = 'AT002';
    ELSIF v_bad.staged_type = 'decimal' AND v_bad.data_type = 'decimal' THEN
      RAISE EXCEPTION 'stage_flush: a value of attribute "%" (tenant %) is not a finite number',
        v_bad.name, v_bad.tenant_id
        USING ERRCODE = 'AT002';
    ELSE
      RAISE EXCEPTION 'stage_flush: attribute "%" (tenant %) is %, but a value arrived as %',
        v_bad.name, v_bad.tenant_id, v_bad.data_type, v_bad.staged_type
        USING ERRCODE = 'AT002';
    END IF;
  END IF;

  RETURN QUERY
  WITH staged AS (
    SELECT * FROM entity_values_staging WHERE batch_id = p_batch_id
  ), batch_entities AS (
    -- One row per entity; its type as already registered, else as staged.
    SELECT DISTINCT ON (s.tenant_id, s.entity_id)
           s.tenant_id, s.entity_id, coalesce(e.entity_type, s.entity_type, 'unknown') AS entity_type,
           e.entity_id IS NULL AS is_new
    FROM staged s
    LEFT JOIN entities e ON e.tenant_id = s.tenant_id AND e.entity_id = s.entity_id
    ORDER BY s.tenant_id, s.entity_id, s.entity_type IS NULL, s.ts DESC
  ), new_entities AS (
    INSERT INTO entities (tenant_id, entity_id, entity_type)
    SELECT b.tenant_id, b.entity_id, b.entity_type FROM batch_entities b WHERE b.is_new
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
    RETURNING *
  ), newest AS (
    -- Per entity and attribute, the newest device time of this batch.
    SELECT DISTINCT ON (i.tenant_id, i.entity_id, i.attribute_id) i.*
    FROM inserted i
    ORDER BY i.tenant_id, i.entity_id, i.attribute_id, i.ts DESC
  ), docs AS (
    SELECT n.tenant_id, n.entity_id,
           jsonb_object_agg(a.name, jsonb_build_object('v', v.value, 'ts', atlas_iso(n.ts))) AS latest,
           coalesce(jsonb_object_agg(a.name, v.value) FILTER (WHERE a.is_hot), '{}'::jsonb) AS hot,
           max(n.ts) AS newest_ts
    FROM newest n
    JOIN attributes a ON a.tenant_id = n.tenant_id AND a.attribute_id = n.attribute_id
    CROSS JOIN LATERAL (SELECT CASE a.data_type
        -- Beyond 2^53 a JSON number loses digits in JavaScript: such ints are strings.
        WHEN 'int' THEN CASE WHEN n.value_int BETWEEN -9007199254740991 AND 9007199254740991
                             THEN to_jsonb(n.value_int) ELSE to_jsonb(n.value_int::text) END
        WHEN 'decimal' THEN to_jsonb(n.value_decimal)
        WHEN 'bool' THEN to_jsonb(n.value_bool)
        WHEN 'string' THEN to_jsonb(n.value_string)
        WHEN 'timestamp' THEN to_jsonb(atlas_iso(n.value_ts))
      END AS value) v
    GROUP BY n.tenant_id, n.entity_id
  ), upserted AS (
    INSERT INTO entity_jsonb AS j (tenant_id, entity_id, entity_type, hot, latest, updated_at)
    SELECT d.tenant_id, d.entity_id, b.entity_type, d.hot, d.latest, d.newest_ts
    FROM docs d
    JOIN batch_entities b ON b.tenant_id = d.tenant_id AND b.entity_id = d.entity_id
    -- A fixed lock order, so two writers flushing overlapping batches
    -- cannot deadlock on the projection.
    ORDER BY d.tenant_id, d.entity_id
    ON CONFLICT (tenant_id, entity_id) DO UPDATE SET
      latest = atlas_merge_latest(j.latest, EXCLUDED.latest),
      hot = upsert_hot_attrs(j.hot, j.latest, EXCLUDED.hot, EXCLUDED.latest),
      updated_at = greatest(j.updated_at, EXCLUDED.updated_at)
    WHERE atlas_latest_changes(j.latest, EXCLUDED.latest)
    RETURNING j.tenant_id, j.entity_id
  ), flushed AS (
    DELETE FROM entity_values_staging WHERE batch_id = p_batch_id
  )
  SELECT u.tenant_id, u.entity_id FROM upserted u;
END
$$;
