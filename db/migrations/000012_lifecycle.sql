-- The data lifecycle (issue 13): per-tenant retention and deactivation,
-- partition maintenance that records what it did (and runs on a clock that a
-- test can move), and the asynchronous jobs of deletions and imports.
SET LOCAL timezone = 'UTC';

-- Tenants: a retention override (NULL: RETENTION_DAYS) and deactivation
-- (keys stop authenticating; the data stays until an erase).
ALTER TABLE tenants
  ADD COLUMN retention_days int CHECK (retention_days IS NULL OR retention_days >= 1),
  ADD COLUMN deactivated_at timestamptz;

-- What the last maintenance run did: one row. Read by the API
-- (GET /v1/retention) and by the writer's /metrics. clock_offset is the
-- test-only shift of the maintenance clock (ATLAS_MAINTENANCE_CLOCK_OFFSET_DAYS),
-- kept so that every reader measures "days ahead" on the same clock.
CREATE TABLE partition_maintenance_status (
  id               boolean PRIMARY KEY DEFAULT true CHECK (id),
  clock_offset     interval NOT NULL DEFAULT '0',
  last_success_at  timestamptz,
  last_result      jsonb,
  retention_days   int,
  cutoff           timestamptz,
  last_error       text,
  last_error_at    timestamptz
);
INSERT INTO partition_maintenance_status DEFAULT VALUES;
REVOKE ALL ON partition_maintenance_status FROM PUBLIC;
GRANT SELECT ON partition_maintenance_status TO atlas_app, atlas_writer;

-- 000003's signature had no clock; the new one is a different function, so
-- the old one goes (a call with two arguments would otherwise be ambiguous).
DROP FUNCTION atlas_maintain_partitions(int, int);

-- The periodic maintenance of the history (the batch writer calls it; one
-- run at a time across every writer task by a transaction advisory lock):
--  (b) moves rows out of the default partition into partitions of their day,
--  (a) makes partitions p_premake_days ahead,
--  (c) drops partitions wholly older than p_retention_days (NULL: keep all)
--      and deletes default-partition rows older than that,
-- all on the clock now() + p_clock_offset, and records the run in
-- partition_maintenance_status.
-- Returns {"created":n,"moved_rows":n,"dropped":n,"default_rows":n} or {"skipped":true}.
CREATE FUNCTION atlas_maintain_partitions(p_retention_days int DEFAULT NULL, p_premake_days int DEFAULT 7, p_clock_offset interval DEFAULT '0')
RETURNS jsonb
LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
  v_partman  text := atlas_partman_schema();
  v_now      timestamptz := now() + p_clock_offset;
  v_today    date := (v_now AT TIME ZONE 'UTC')::date;
  v_cutoff   timestamptz;
  v_day      date;
  v_n        bigint;
  v_created  int := 0;
  v_moved    bigint := 0;
  v_dropped  int := 0;
  v_default  bigint;
  v_part     record;
  v_result   jsonb;
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtext('atlas_maintain_partitions')) THEN
    RETURN jsonb_build_object('skipped', true);
  END IF;
  IF p_retention_days IS NOT NULL THEN
    IF p_retention_days < 1 THEN
      RAISE EXCEPTION 'retention must be at least 1 day, got %', p_retention_days;
    END IF;
    v_cutoff := date_trunc('day', v_now) - p_retention_days * interval '1 day';
  END IF;

  -- (b) Rows in the default partition: a reading for a day that had no
  -- partition when it arrived. Days past retention are not worth a
  -- partition; (c) deletes them.
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
  -- table (on the real clock: it can only make fewer), then ours on this one.
  IF v_partman IS NOT NULL THEN
    EXECUTE format('UPDATE %I.part_config SET premake = greatest(premake, %s) WHERE parent_table = %L',
                   v_partman, p_premake_days, 'public.entity_values_ts');
    EXECUTE format('SELECT %I.run_maintenance(p_parent_table := %L)', v_partman, 'public.entity_values_ts');
  END IF;
  v_created := v_created + atlas_ensure_partitions(v_today - 1, v_today + p_premake_days);

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
      -- So that pg_partman's own scheduled maintenance (where configured)
      -- never keeps less than this.
      EXECUTE format('UPDATE %I.part_config SET retention = %L, retention_keep_table = false WHERE parent_table = %L',
                     v_partman, p_retention_days || ' days', 'public.entity_values_ts');
    END IF;
  END IF;

  -- What is left in the default after the moves: rows of days past the last
  -- premade one would be, and should never be; the metric and alarm say so.
  SELECT count(*) INTO v_default FROM entity_values_ts_default;

  v_result := jsonb_build_object('created', v_created, 'moved_rows', v_moved, 'dropped', v_dropped, 'default_rows', v_default);
  UPDATE partition_maintenance_status
  SET clock_offset = p_clock_offset, last_success_at = now(), last_result = v_result,
      retention_days = p_retention_days, cutoff = v_cutoff;
  RETURN v_result;
END
$$;

-- Whole days after today (on the maintenance clock) that have a partition,
-- counted until the first day without one; 0 when today has none.
CREATE FUNCTION atlas_partitions_ahead_days() RETURNS int
LANGUAGE sql STABLE SET timezone = 'UTC' AS $$
  WITH clock AS (
    SELECT ((now() + s.clock_offset) AT TIME ZONE 'UTC')::date AS today FROM partition_maintenance_status s
  ), missing AS (
    SELECT min(d::date) AS day
    FROM clock, generate_series(clock.today, clock.today + 3660, interval '1 day') d
    WHERE NOT EXISTS (
      SELECT 1 FROM atlas_history_partitions() p
      WHERE NOT p.is_default AND p.range_from <= d AND p.range_to >= d + interval '1 day')
  )
  SELECT greatest(missing.day - clock.today - 1, 0) FROM clock, missing
$$;
GRANT EXECUTE ON FUNCTION atlas_partitions_ahead_days() TO atlas_app, atlas_writer;

-- The device time of the calling tenant's oldest reading (app.tenant_id; no
-- parameter, so a caller can only ever ask about its own tenant), for
-- GET /v1/retention. SECURITY DEFINER because it probes partitions by name
-- (the roles may read only through the parent): empty partitions cost one
-- index probe each, and only the oldest partition holding the tenant's rows
-- is scanned for its minimum.
CREATE FUNCTION atlas_oldest_reading() RETURNS timestamptz
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
  v_part   record;
  v_ts     timestamptz;
  v_oldest timestamptz;
BEGIN
  IF v_tenant IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT min(ts) INTO v_oldest FROM entity_values_ts_default WHERE tenant_id = v_tenant;
  FOR v_part IN SELECT * FROM atlas_history_partitions() p WHERE NOT p.is_default ORDER BY p.range_from LOOP
    EXIT WHEN v_oldest IS NOT NULL AND v_oldest < v_part.range_from;
    EXECUTE format('SELECT min(ts) FROM %I WHERE tenant_id = $1', v_part.partition_name) INTO v_ts USING v_tenant;
    IF v_ts IS NOT NULL THEN
      v_oldest := least(v_oldest, v_ts);
      EXIT;
    END IF;
  END LOOP;
  RETURN v_oldest;
END
$$;
REVOKE ALL ON FUNCTION atlas_oldest_reading() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atlas_oldest_reading() TO atlas_app;

-- Asynchronous jobs of a tenant: deletions (run by the job runner of the
-- batch writer) and imports (run by the ingest API while it reads the body).
CREATE TABLE jobs (
  tenant_id    uuid NOT NULL,
  job_id       uuid NOT NULL DEFAULT gen_random_uuid(),
  kind         text NOT NULL CHECK (kind IN ('delete_entity', 'delete_attribute_range', 'import')),
  state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
  params       jsonb NOT NULL DEFAULT '{}',
  -- {"done": n, "total": n} in the job's own unit (partitions, rows)
  progress     jsonb NOT NULL DEFAULT '{}',
  -- deletions: {"removed": {"history": n, ...}}; imports: accepted, rejected, rejections
  result       jsonb NOT NULL DEFAULT '{}',
  error        text,
  attempts     int NOT NULL DEFAULT 0,
  created_at   timestamptz NOT NULL DEFAULT now(),
  started_at   timestamptz,
  heartbeat_at timestamptz,
  finished_at  timestamptz,
  PRIMARY KEY (tenant_id, job_id)
);
-- The runner's queue scan: only unfinished jobs, oldest first.
CREATE INDEX jobs_unfinished ON jobs (created_at) WHERE state IN ('queued', 'running');

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON jobs
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
REVOKE ALL ON jobs FROM PUBLIC;
-- The API makes jobs and reads its tenant's; imports report their own
-- progress; the runner (atlas_writer) claims any tenant's.
GRANT SELECT, INSERT, UPDATE (state, progress, result, error, started_at, heartbeat_at, finished_at), DELETE ON jobs TO atlas_app;
GRANT SELECT, UPDATE (state, attempts, started_at, heartbeat_at, error, finished_at) ON jobs TO atlas_writer;
DO $$
BEGIN
  IF NOT (SELECT rolbypassrls FROM pg_roles WHERE rolname = 'atlas_writer') THEN
    CREATE POLICY writer_all ON jobs TO atlas_writer USING (true) WITH CHECK (true);
  END IF;
END
$$;

-- A deletion recomputes latest values and the search document from what
-- history still holds (app/lifecycle/), under the tenant's row-level scope.
GRANT UPDATE ON entity_latest TO atlas_app;
GRANT UPDATE (updated_at) ON entity_jsonb TO atlas_app;
