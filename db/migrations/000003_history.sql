-- History: every reading, partitioned by DEVICE time (ts), daily.
--
-- The seeds partitioned by ingested_at; that puts a late or backfilled
-- reading in today's partition, so a time-range query on device time cannot
-- prune, and retention by partition would drop data by when it arrived, not
-- by when it happened. We keep both times (ts and received_at) and partition
-- on ts. Daily rather than monthly: a day of the target volume is already
-- ~860M rows, retention drops a day at a time, and a backfill touches only
-- the days it concerns (db/README.md).
--
-- Partitions are made ahead by pg_partman when the extension is available
-- (RDS, the local stack) and by atlas_ensure_partitions() otherwise (the
-- embedded PostgreSQL of `npm start`). A reading for a day with no partition
-- lands in the DEFAULT partition; atlas_maintain_partitions() moves it out.
--
-- Day boundaries are UTC midnights.
SET LOCAL timezone = 'UTC';

CREATE TABLE entity_values_ts (
  tenant_id      uuid NOT NULL,
  entity_id      bigint NOT NULL,
  attribute_id   int NOT NULL,
  ts             timestamptz NOT NULL,               -- device time
  received_at    timestamptz NOT NULL DEFAULT now(), -- arrival time
  value_int      bigint,
  value_decimal  double precision,
  value_bool     boolean,
  value_string   text,
  value_ts       timestamptz,
  CONSTRAINT entity_values_ts_one_value
    CHECK (num_nonnulls(value_int, value_decimal, value_bool, value_string, value_ts) = 1),
  -- The reading's identity: a replayed reading (Kafka redelivery) is a no-op
  -- under ON CONFLICT DO NOTHING. Also the index of per-entity time series.
  PRIMARY KEY (tenant_id, entity_id, attribute_id, ts)
) PARTITION BY RANGE (ts);

ALTER TABLE entity_values_ts ENABLE ROW LEVEL SECURITY;
ALTER TABLE entity_values_ts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON entity_values_ts
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

-- Grants are on the parent only: the roles reach partitions through it (where
-- the policy applies), never by a partition's own name.
REVOKE ALL ON entity_values_ts FROM PUBLIC;
GRANT SELECT, DELETE ON entity_values_ts TO atlas_app;
GRANT SELECT, INSERT ON entity_values_ts TO atlas_writer;

-- Staging: loaded by COPY (text format) in this column order, flushed by
-- stage_flush(batch_id). UNLOGGED (a crash empties it; Kafka replays the
-- batch) and without row-level security, because COPY FROM refuses a table
-- with RLS; so no role but the writer may touch it.
CREATE UNLOGGED TABLE entity_values_staging (
  batch_id       uuid NOT NULL,
  tenant_id      uuid NOT NULL,
  entity_id      bigint NOT NULL,
  entity_type    text,          -- NULL: 'unknown' when the entity is new
  attribute_id   int NOT NULL,
  ts             timestamptz NOT NULL,
  received_at    timestamptz NOT NULL,
  value_int      bigint,
  value_decimal  double precision,
  value_bool     boolean,
  value_string   text,
  value_ts       timestamptz
) WITH (
  -- Every row is deleted soon after it is written: vacuum often.
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 20000,
  autovacuum_vacuum_cost_delay = 0
);
CREATE INDEX entity_values_staging_batch ON entity_values_staging (batch_id);

REVOKE ALL ON entity_values_staging FROM PUBLIC;
GRANT SELECT, INSERT, DELETE, TRUNCATE ON entity_values_staging TO atlas_writer;

-- The partitions of the history, with their bounds parsed from the catalog.
CREATE FUNCTION atlas_history_partitions()
RETURNS TABLE (partition_name text, range_from timestamptz, range_to timestamptz, is_default boolean)
LANGUAGE sql STABLE AS $$
  SELECT c.relname::text,
         (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
         (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz,
         pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = 'entity_values_ts'::regclass
  ORDER BY 2 NULLS FIRST
$$;

-- The schema of pg_partman when it manages the history, else NULL.
CREATE FUNCTION atlas_partman_schema() RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_schema text;
  v_managed boolean;
BEGIN
  SELECT n.nspname INTO v_schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
  WHERE e.extname = 'pg_partman';
  IF v_schema IS NULL THEN
    RETURN NULL;
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.part_config WHERE parent_table = %L)',
                 v_schema, 'public.entity_values_ts')
    INTO v_managed;
  RETURN CASE WHEN v_managed THEN v_schema END;
END
$$;

-- Creates the partition of one UTC day unless one covers it. Rows of that day
-- in the default partition are moved out first and back after: PostgreSQL
-- refuses to create a partition while the default holds rows of its range.
-- Returns the number of rows moved out of the default, or -1 when the
-- partition already existed.
CREATE FUNCTION atlas_create_history_partition(p_day date) RETURNS bigint
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

  EXECUTE 'CREATE TEMP TABLE IF NOT EXISTS atlas_partition_move (LIKE entity_values_ts) ON COMMIT DROP';
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

-- Creates the daily partitions of [p_from, p_to] (UTC days) that are missing.
-- Returns how many it created.
CREATE FUNCTION atlas_ensure_partitions(p_from date, p_to date) RETURNS int
LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
  v_day date;
  v_created int := 0;
BEGIN
  FOR v_day IN SELECT d::date FROM generate_series(p_from, p_to, interval '1 day') d LOOP
    IF atlas_create_history_partition(v_day) >= 0 THEN
      v_created := v_created + 1;
    END IF;
  END LOOP;
  RETURN v_created;
END
$$;

-- The periodic maintenance of the history (the batch writer calls it, e.g.
-- hourly; concurrent calls skip): (b) moves rows out of the default partition
-- into partitions of their day, (a) makes partitions p_premake_days ahead,
-- (c) drops partitions wholly older than p_retention_days (NULL: keep all),
-- and deletes default-partition rows older than that.
-- Returns {"created":n,"moved_rows":n,"dropped":n} or {"skipped":true}.
CREATE FUNCTION atlas_maintain_partitions(p_retention_days int DEFAULT NULL, p_premake_days int DEFAULT 7)
RETURNS jsonb
LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
  v_partman  text := atlas_partman_schema();
  v_cutoff   timestamptz;
  v_day      date;
  v_n        bigint;
  v_created  int := 0;
  v_moved    bigint := 0;
  v_dropped  int := 0;
  v_part     record;
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtext('atlas_maintain_partitions')) THEN
    RETURN jsonb_build_object('skipped', true);
  END IF;
  IF p_retention_days IS NOT NULL THEN
    IF p_retention_days < 1 THEN
      RAISE EXCEPTION 'retention must be at least 1 day, got %', p_retention_days;
    END IF;
    v_cutoff := date_trunc('day', now()) - p_retention_days * interval '1 day';
  END IF;

  -- (b) Rows in the default partition: a reading for a day that had no
  -- partition when it arrived (a far-past backfill). Days past retention are
  -- not worth a partition; (c) deletes them.
  FOR v_day IN
    SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date FROM entity_values_ts_default
    WHERE v_cutoff IS NULL OR ts >= v_cutoff
    ORDER BY 1
  LOOP
    v_n := atlas_create_history_partition(v_day);
    IF v_n >= 0 THEN
      v_created := v_created + 1;
      v_moved := v_moved + v_n;
    END IF;
  END LOOP;

  -- (a) Premake. pg_partman's own maintenance first where it manages the
  -- table, then our check, which is a no-op when pg_partman made them.
  IF v_partman IS NOT NULL THEN
    EXECUTE format('UPDATE %I.part_config SET premake = greatest(premake, %s) WHERE parent_table = %L',
                   v_partman, p_premake_days, 'public.entity_values_ts');
    EXECUTE format('SELECT %I.run_maintenance(p_parent_table := %L)', v_partman, 'public.entity_values_ts');
  END IF;
  v_created := v_created + atlas_ensure_partitions(current_date - 1, current_date + p_premake_days);

  -- (c) Retention: whole partitions, then stragglers in the default.
  IF v_cutoff IS NOT NULL THEN
    FOR v_part IN
      SELECT * FROM atlas_history_partitions() p WHERE NOT p.is_default AND p.range_to <= v_cutoff
    LOOP
      EXECUTE format('DROP TABLE %I', v_part.partition_name);
      v_dropped := v_dropped + 1;
    END LOOP;
    DELETE FROM entity_values_ts_default WHERE ts < v_cutoff;
    IF v_partman IS NOT NULL THEN
      -- So that pg_partman's own scheduled maintenance (pg_partman_bgw or
      -- pg_cron, where configured) applies the same retention.
      EXECUTE format('UPDATE %I.part_config SET retention = %L, retention_keep_table = false WHERE parent_table = %L',
                     v_partman, p_retention_days || ' days', 'public.entity_values_ts');
    END IF;
  END IF;

  RETURN jsonb_build_object('created', v_created, 'moved_rows', v_moved, 'dropped', v_dropped);
END
$$;

-- Set up the partitions. The runner may force a path with the session
-- setting atlas.partitioning = 'partman' | 'native' (default 'auto': pg_partman
-- when the server has it).
DO $$
DECLARE
  v_mode    text := coalesce(nullif(current_setting('atlas.partitioning', true), ''), 'auto');
  v_version text;
  v_type    text;
BEGIN
  IF v_mode NOT IN ('auto', 'partman', 'native') THEN
    RAISE EXCEPTION 'atlas.partitioning must be auto, partman or native, got %', v_mode;
  END IF;
  IF v_mode = 'auto' THEN
    v_mode := CASE WHEN EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_partman')
                   THEN 'partman' ELSE 'native' END;
  END IF;

  IF v_mode = 'partman' THEN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_partman') THEN
      CREATE SCHEMA IF NOT EXISTS partman;
      CREATE EXTENSION pg_partman SCHEMA partman;
    END IF;
    SELECT extversion INTO v_version FROM pg_extension WHERE extname = 'pg_partman';
    -- pg_partman 4.x wants p_type 'native'; 5.x calls native range 'range'
    -- (and dropped trigger-based partitioning). Both make the DEFAULT
    -- partition <parent>_default.
    v_type := CASE WHEN split_part(v_version, '.', 1)::int >= 5 THEN 'range' ELSE 'native' END;
    EXECUTE format(
      'SELECT %I.create_parent(p_parent_table := %L, p_control := %L, p_type := %L, p_interval := %L, p_premake := 7, p_start_partition := %L)',
      (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_partman'),
      'public.entity_values_ts', 'ts', v_type, '1 day', (current_date - 7)::text);
  ELSE
    CREATE TABLE entity_values_ts_default PARTITION OF entity_values_ts DEFAULT;
    PERFORM atlas_ensure_partitions(current_date - 7, current_date + 7);
  END IF;
END
$$;
