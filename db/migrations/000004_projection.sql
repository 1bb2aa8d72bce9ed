-- The per-entity projection (latest values) and stage_flush(), the one write
-- path from staging into history and projection.

-- One row per entity:
--   hot     {name: value} of hot attributes only, GIN-indexed for search
--   latest  {name: {"v": value, "ts": iso}} of EVERY attribute, hot and cold:
--           GET /v1/entities/{id} is one primary-key probe, never a scan of
--           history across partitions. Merged once per entity per batch
--           (ThingsBoard's one-row-per-key latest table costs a row write per
--           key per reading; this costs one row write per entity per batch).
--   updated_at  the newest device time merged
-- Values: int and decimal as JSON numbers, bool, string, timestamp as an ISO
-- string; ts as 'YYYY-MM-DDTHH:MI:SS.mmmZ' (UTC, fixed width, so comparable
-- as text).
CREATE TABLE entity_jsonb (
  tenant_id    uuid NOT NULL,
  entity_id    bigint NOT NULL,
  entity_type  text NOT NULL,
  hot          jsonb NOT NULL DEFAULT '{}',
  latest       jsonb NOT NULL DEFAULT '{}',
  updated_at   timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, entity_id)
);
CREATE INDEX entity_jsonb_hot ON entity_jsonb USING gin (hot jsonb_path_ops);
-- Search answers newest update first, keyset-paged on (updated_at, entity_id).
CREATE INDEX entity_jsonb_recent ON entity_jsonb (tenant_id, updated_at DESC, entity_id DESC);

ALTER TABLE entity_jsonb ENABLE ROW LEVEL SECURITY;
ALTER TABLE entity_jsonb FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON entity_jsonb
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
REVOKE ALL ON entity_jsonb FROM PUBLIC;
GRANT SELECT, UPDATE (hot), DELETE ON entity_jsonb TO atlas_app;
GRANT SELECT, INSERT, UPDATE ON entity_jsonb TO atlas_writer;

-- A timestamp as the projection writes it: UTC, milliseconds, fixed width
-- (like JavaScript's toISOString), so two of them compare correctly as text.
CREATE FUNCTION atlas_iso(p_ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT to_char(p_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

-- Merges latest documents: per attribute, the entry with the newer device ts
-- wins; on a tie the old one stays (a replay changes nothing).
CREATE FUNCTION atlas_merge_latest(p_old jsonb, p_new jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(p_old, '{}'::jsonb) || coalesce(
    (SELECT jsonb_object_agg(n.key, n.value)
     FROM jsonb_each(p_new) n
     WHERE p_old -> n.key IS NULL OR n.value ->> 'ts' > p_old -> n.key ->> 'ts'),
    '{}'::jsonb)
$$;

-- Whether merging p_new into p_old changes anything (lets stage_flush skip
-- no-op updates: a late reading rewrites no projection row).
CREATE FUNCTION atlas_latest_changes(p_old jsonb, p_new jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT EXISTS (
    SELECT 1 FROM jsonb_each(p_new) n
    WHERE p_old -> n.key IS NULL OR n.value ->> 'ts' > p_old -> n.key ->> 'ts')
$$;

-- Merges hot values: an attribute of p_new_hot replaces the current one only
-- when its device ts (in p_new_latest) is newer than the current latest's.
CREATE FUNCTION upsert_hot_attrs(p_hot jsonb, p_old_latest jsonb, p_new_hot jsonb, p_new_latest jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(p_hot, '{}'::jsonb) || coalesce(
    (SELECT jsonb_object_agg(h.key, h.value)
     FROM jsonb_each(p_new_hot) h
     WHERE p_old_latest -> h.key IS NULL
        OR p_new_latest -> h.key ->> 'ts' > p_old_latest -> h.key ->> 'ts'),
    '{}'::jsonb)
$$;

-- Moves one staged batch into history and projection, in the caller's
-- transaction (run it as atlas_writer). Set-based: one validation pass, then
-- one statement that registers entities, inserts history (a replayed reading
-- is a no-op), merges the projection per entity from the readings actually
-- inserted, and deletes the batch. Returns the entities whose projection row
-- was created or changed (what a cache must invalidate).
--
-- Refuses the whole batch, naming the attribute, when a staged value is not
-- in the typed column of its attribute's data type (SQLSTATE AT002) or the
-- attribute is unknown to the tenant (AT003). The API validates first; this
-- is the last line, so a mistyped value never reaches storage.
CREATE FUNCTION stage_flush(p_batch_id uuid)
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
        WHEN 'int' THEN to_jsonb(n.value_int)
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

-- After an attribute's is_hot flips, stage_flush merges it into `hot` (or
-- stops doing so) from the next reading on. This backfills the flip for the
-- entities already holding a value: copies the latest value into `hot` when
-- the attribute is hot, removes it when cold. Returns the rows changed; run it
-- as the owner (or atlas_writer), per tenant, off-peak for large tenants.
CREATE FUNCTION atlas_sync_hot_attribute(p_tenant_id uuid, p_name text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_hot boolean;
  v_n bigint;
BEGIN
  SELECT a.is_hot INTO v_hot FROM attributes a WHERE a.tenant_id = p_tenant_id AND a.name = p_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'attribute "%" is not an attribute of tenant %', p_name, p_tenant_id USING ERRCODE = 'AT003';
  END IF;
  IF v_hot THEN
    UPDATE entity_jsonb j SET hot = j.hot || jsonb_build_object(p_name, j.latest -> p_name -> 'v')
    WHERE j.tenant_id = p_tenant_id AND j.latest ? p_name
      AND j.hot -> p_name IS DISTINCT FROM j.latest -> p_name -> 'v';
  ELSE
    UPDATE entity_jsonb j SET hot = j.hot - p_name
    WHERE j.tenant_id = p_tenant_id AND j.hot ? p_name;
  END IF;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;

-- Replication lag: the primary upserts one row every second; a replica's
-- lag is now() - beat_at as it sees it. Not a tenant table: no RLS.
CREATE TABLE replication_heartbeat (
  id        int PRIMARY KEY,
  beat_at   timestamptz NOT NULL,
  beat_seq  bigint NOT NULL
);
REVOKE ALL ON replication_heartbeat FROM PUBLIC;
GRANT SELECT ON replication_heartbeat TO atlas_app, atlas_writer;
GRANT INSERT, UPDATE ON replication_heartbeat TO atlas_app, atlas_writer;

CREATE FUNCTION atlas_heartbeat() RETURNS TABLE (beat_at timestamptz, beat_seq bigint)
LANGUAGE sql AS $$
  INSERT INTO replication_heartbeat AS h (id, beat_at, beat_seq) VALUES (1, clock_timestamp(), 1)
  ON CONFLICT (id) DO UPDATE SET beat_at = clock_timestamp(), beat_seq = h.beat_seq + 1
  RETURNING h.beat_at, h.beat_seq
$$;

-- Functions: only the roles that need them.
REVOKE EXECUTE ON FUNCTION stage_flush(uuid), atlas_sync_hot_attribute(uuid, text),
  atlas_maintain_partitions(int, int), atlas_ensure_partitions(date, date),
  atlas_create_history_partition(date), atlas_heartbeat() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stage_flush(uuid), atlas_heartbeat() TO atlas_writer;
GRANT EXECUTE ON FUNCTION atlas_heartbeat() TO atlas_app;

-- Where atlas_writer could not be given BYPASSRLS (000001: the migrating user
-- is not a superuser), it gets permissive policies on the tables it writes.
DO $$
DECLARE
  t text;
BEGIN
  IF NOT (SELECT rolbypassrls FROM pg_roles WHERE rolname = 'atlas_writer') THEN
    FOREACH t IN ARRAY ARRAY['tenants', 'attributes', 'entities', 'entity_values_ts', 'entity_jsonb'] LOOP
      EXECUTE format('CREATE POLICY writer_all ON %I TO atlas_writer USING (true) WITH CHECK (true)', t);
    END LOOP;
  END IF;
END
$$;
