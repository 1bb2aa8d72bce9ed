-- The latest value of each (tenant, entity, attribute) as its own narrow row.
--
-- Until 000008 every flush rewrote each touched entity's whole `latest`
-- document ({name: {v, ts}} of every attribute, TOASTed beyond ~2 kB) and
-- Debezium shipped that whole document to the warehouse: 285 of 302 s of
-- stage_flush went to that merge (issue 12). Now, after ThingsBoard's
-- ts_kv_latest:
--   entity_latest  one row per (tenant, entity, attribute): device ts and the
--                  typed value; a ts-guarded upsert (the newer device time
--                  wins, on a tie the stored row stays). Only the primary key
--                  is indexed and fillfactor leaves room on each page, so an
--                  update is a HOT update: no index is touched.
--   entity_jsonb   keeps `hot` (hot values only, GIN-indexed for search),
--                  merged by the CHANGED keys only, and `updated_at` (newest
--                  device time of any attribute) for the recency order; the
--                  `latest` document is gone.
-- db/README.md has the measurements that chose this.
SET LOCAL timezone = 'UTC';

CREATE TABLE entity_latest (
  tenant_id      uuid NOT NULL,
  entity_id      bigint NOT NULL,
  attribute_id   int NOT NULL,
  ts             timestamptz NOT NULL,   -- device time of the value
  value_int      bigint,
  value_decimal  double precision,
  value_bool     boolean,
  value_string   text,
  value_ts       timestamptz,
  CONSTRAINT entity_latest_one_value
    CHECK (num_nonnulls(value_int, value_decimal, value_bool, value_string, value_ts) = 1),
  PRIMARY KEY (tenant_id, entity_id, attribute_id)
) WITH (
  -- Free space per page for HOT updates (the row is rewritten on every newer
  -- reading; db/README.md measured 100 against 80).
  fillfactor = 80,
  -- Most rows are updated often: vacuum the dead versions early.
  autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 0
);

ALTER TABLE entity_latest ENABLE ROW LEVEL SECURITY;
ALTER TABLE entity_latest FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON entity_latest
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
REVOKE ALL ON entity_latest FROM PUBLIC;
GRANT SELECT, DELETE ON entity_latest TO atlas_app;
GRANT SELECT, INSERT, UPDATE ON entity_latest TO atlas_writer;
DO $$
BEGIN
  IF NOT (SELECT rolbypassrls FROM pg_roles WHERE rolname = 'atlas_writer') THEN
    CREATE POLICY writer_all ON entity_latest TO atlas_writer USING (true) WITH CHECK (true);
  END IF;
END
$$;

-- The JSON form of a typed value, as the API answers it and `hot` holds it:
-- int and decimal as numbers (ints beyond ±(2^53-1) as strings: JavaScript
-- would lose digits), bool, string, timestamp as atlas_iso text.
CREATE FUNCTION atlas_value_json(p_type text, p_int bigint, p_decimal double precision, p_bool boolean, p_string text, p_ts timestamptz)
RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE p_type
    WHEN 'int' THEN CASE WHEN p_int BETWEEN -9007199254740991 AND 9007199254740991
                         THEN to_jsonb(p_int) ELSE to_jsonb(p_int::text) END
    WHEN 'decimal' THEN to_jsonb(p_decimal)
    WHEN 'bool' THEN to_jsonb(p_bool)
    WHEN 'string' THEN to_jsonb(p_string)
    WHEN 'timestamp' THEN to_jsonb(atlas_iso(p_ts))
  END
$$;

-- Move the existing documents into rows. As atlas_writer: FORCE ROW LEVEL
-- SECURITY applies to the owner too, and on RDS the owner is no superuser.
SET LOCAL ROLE atlas_writer;
INSERT INTO entity_latest (tenant_id, entity_id, attribute_id, ts, value_int, value_decimal, value_bool, value_string, value_ts)
SELECT j.tenant_id, j.entity_id, a.attribute_id, (d.value ->> 'ts')::timestamptz,
       CASE WHEN a.data_type = 'int' THEN (d.value ->> 'v')::bigint END,
       CASE WHEN a.data_type = 'decimal' THEN (d.value ->> 'v')::double precision END,
       CASE WHEN a.data_type = 'bool' THEN (d.value ->> 'v')::boolean END,
       CASE WHEN a.data_type = 'string' THEN d.value ->> 'v' END,
       CASE WHEN a.data_type = 'timestamp' THEN (d.value ->> 'v')::timestamptz END
FROM entity_jsonb j
CROSS JOIN LATERAL jsonb_each(j.latest) d
JOIN attributes a ON a.tenant_id = j.tenant_id AND a.name = d.key
WHERE d.value ->> 'v' IS NOT NULL
ORDER BY j.tenant_id, j.entity_id, a.attribute_id;
RESET ROLE;

ALTER TABLE entity_jsonb DROP COLUMN latest;
DROP FUNCTION upsert_hot_attrs(jsonb, jsonb, jsonb, jsonb);
DROP FUNCTION atlas_latest_changes(jsonb, jsonb);
DROP FUNCTION atlas_merge_latest(jsonb, jsonb);

-- The last line of type checking, on its own so that a later stage_flush
-- reuses it: refuses the whole batch, naming the attribute, when a staged
-- value is not in the typed column of its attribute's type or is not finite
-- (AT002), or the attribute is unknown to the tenant (AT003).
CREATE FUNCTION atlas_check_staged(p_batch_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
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
  ELSIF v_bad.staged_type = 'decimal' AND v_bad.data_type = 'decimal' THEN
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

-- Moves one staged batch into history, latest values and the hot projection,
-- in the caller's transaction (as atlas_writer), in one statement:
--   1. entities new to the tenant are registered;
--   2. history takes every reading (a replayed one is a no-op);
--   3. per (entity, attribute) the batch's newest INSERTED reading is upserted
--      into entity_latest where its device ts is newer than the stored one;
--   4. per entity whose latest changed, the hot values among those changes
--      are merged into `hot` (`||` of the changed keys only) and updated_at
--      advances; nothing else of the row is rewritten.
-- Returns the entities whose latest values changed (what a cache must
-- invalidate). Lock order is fixed (entity_latest by key, then entity_jsonb
-- by key), so two writers flushing overlapping batches cannot deadlock.
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
    INSERT INTO entity_jsonb AS j (tenant_id, entity_id, entity_type, hot, updated_at)
    SELECT d.tenant_id, d.entity_id, b.entity_type, d.hot, d.newest_ts
    FROM delta d
    JOIN batch_entities b ON b.tenant_id = d.tenant_id AND b.entity_id = d.entity_id
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

-- After an attribute's is_hot flips, stage_flush merges it into `hot` (or
-- stops doing so) from the next reading on. This backfills the flip for the
-- entities already holding a value: copies the latest value into `hot` when
-- the attribute is hot, removes it when cold. Returns the rows changed; run
-- it as atlas_writer, per tenant, off-peak for large tenants.
CREATE OR REPLACE FUNCTION atlas_sync_hot_attribute(p_tenant_id uuid, p_name text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_attr record;
  v_n bigint;
BEGIN
  SELECT a.attribute_id, a.data_type, a.is_hot INTO v_attr
  FROM attributes a WHERE a.tenant_id = p_tenant_id AND a.name = p_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'attribute "%" is not an attribute of tenant %', p_name, p_tenant_id USING ERRCODE = 'AT003';
  END IF;
  IF v_attr.is_hot THEN
    UPDATE entity_jsonb j
    SET hot = j.hot || jsonb_build_object(p_name, v.value)
    FROM entity_latest l
    CROSS JOIN LATERAL (SELECT atlas_value_json(v_attr.data_type, l.value_int, l.value_decimal, l.value_bool, l.value_string, l.value_ts) AS value) v
    WHERE l.tenant_id = p_tenant_id AND l.attribute_id = v_attr.attribute_id
      AND j.tenant_id = l.tenant_id AND j.entity_id = l.entity_id
      AND j.hot -> p_name IS DISTINCT FROM v.value;
  ELSE
    UPDATE entity_jsonb j SET hot = j.hot - p_name
    WHERE j.tenant_id = p_tenant_id AND j.hot ? p_name;
  END IF;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;

REVOKE EXECUTE ON FUNCTION atlas_check_staged(uuid), atlas_value_json(text, bigint, double precision, boolean, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atlas_check_staged(uuid), atlas_value_json(text, bigint, double precision, boolean, text, timestamptz) TO atlas_writer;
GRANT EXECUTE ON FUNCTION atlas_value_json(text, bigint, double precision, boolean, text, timestamptz) TO atlas_app;
