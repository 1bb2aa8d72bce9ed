-- pg_partman 4.x's create_partition_time() ANALYZEs the whole partitioned
-- parent after making a child (p_analyze defaults to true). Called from
-- maintenance, that ran inside the transaction holding the partition locks,
-- so writers would wait for a sample of every partition. Not any more;
-- PostgreSQL never auto-analyzes a partitioned parent, so run
-- `ANALYZE entity_values_ts` off-peak if plans on the parent need its stats.

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
    -- 4.x would ANALYZE the whole parent after creating it, inside this
    -- transaction and its locks; 5.x has no such argument (and no analyze).
    IF split_part((SELECT extversion FROM pg_extension WHERE extname = 'pg_partman'), '.', 1)::int < 5 THEN
      EXECUTE format('SELECT %I.create_partition_time(%L, ARRAY[%L::timestamptz], p_analyze := false)',
                     v_partman, 'public.entity_values_ts', v_from);
    ELSE
      EXECUTE format('SELECT %I.create_partition_time(%L, ARRAY[%L::timestamptz])',
                     v_partman, 'public.entity_values_ts', v_from);
    END IF;
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
