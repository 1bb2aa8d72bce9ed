-- entity_type is optional at ingest (issue 17): devices rarely send their type
-- on every reading. An entity first stored from readings that name none has
-- a NULL type until a reading names one; then that type is set, once. A
-- different type later is refused at the API (app/ingest/entity-types.ts);
-- here a later type never replaces a set one.
--
-- Before: the flush stored 'unknown' for such an entity, for ever (a later
-- reading's type was skipped by ON CONFLICT DO NOTHING).
ALTER TABLE entities ALTER COLUMN entity_type DROP NOT NULL;
-- The flush probes only untyped entities (below); for every typed one the
-- partial index holds nothing, so the probe costs an index descent into an
-- almost empty tree instead of a heap visit.
CREATE INDEX entities_untyped ON entities (tenant_id, entity_id) WHERE entity_type IS NULL;

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
    -- One row per entity with the type its earliest typed reading names
    -- (NULL when none does); an entity already registered keeps its type
    -- (ON CONFLICT DO NOTHING probes the key and skips).
    SELECT DISTINCT ON (s.tenant_id, s.entity_id)
           s.tenant_id, s.entity_id, s.entity_type
    FROM staged s
    ORDER BY s.tenant_id, s.entity_id, s.entity_type IS NULL, s.ts
  ), new_entities AS (
    INSERT INTO entities (tenant_id, entity_id, entity_type)
    SELECT b.tenant_id, b.entity_id, b.entity_type FROM batch_entities b
    ORDER BY b.tenant_id, b.entity_id
    ON CONFLICT DO NOTHING
  ), typed_entities AS (
    -- An entity stored without a type gets the first one a reading names.
    -- Only rows still untyped are probed and locked (entities_untyped is
    -- partial): a typed entity costs nothing here, and no row lock is taken
    -- on it (ON CONFLICT DO UPDATE would lock every existing entity).
    UPDATE entities e SET entity_type = b.entity_type
    FROM batch_entities b
    WHERE e.tenant_id = b.tenant_id AND e.entity_id = b.entity_id
      AND e.entity_type IS NULL AND b.entity_type IS NOT NULL
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
-- The writer (which runs stage_flush) may set a type, and only that column.
GRANT UPDATE (entity_type) ON entities TO atlas_writer;
