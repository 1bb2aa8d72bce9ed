-- current_state is now derived from the facts (the primary no longer ships
-- whole latest documents: migration 000009 there), so it is keyed like them,
-- by attribute id, and holds the value typed as fact_readings does.
-- attribute_name and entity_type are NULL until their dimension rows arrive
-- (the loader fills them in then, as for facts).
-- Portable as 0001 is (Redshift: ALTER TABLE RENAME, ROW_NUMBER, no ON CONFLICT).
ALTER TABLE current_state RENAME TO current_state_by_name;

CREATE TABLE current_state (
  tenant_id       varchar(36)      NOT NULL,
  entity_id       bigint           NOT NULL,
  attribute_id    int              NOT NULL,
  attribute_name  varchar(128),
  entity_type     varchar(256),
  data_type       varchar(16)      NOT NULL,
  value_num       double precision,
  value_text      varchar(65535),
  value_bool      boolean,
  value_ts        timestamptz,
  ts              timestamptz      NOT NULL,  -- device time of the value
  source_lsn      bigint           NOT NULL,
  loaded_at       timestamptz      NOT NULL,
  PRIMARY KEY (tenant_id, entity_id, attribute_id)
);

-- The rows loaded so far, by the newest fact per attribute (what the loader
-- derives from now on). Attributes with no fact left (deleted history) keep
-- their old row where the dimension tells its id and type.
INSERT INTO current_state (tenant_id, entity_id, attribute_id, attribute_name, entity_type, data_type,
  value_num, value_text, value_bool, value_ts, ts, source_lsn, loaded_at)
SELECT tenant_id, entity_id, attribute_id, attribute_name, entity_type, data_type,
  value_num, value_text, value_bool, value_ts, ts, source_lsn, loaded_at
FROM (
  SELECT f.*, ROW_NUMBER() OVER (PARTITION BY f.tenant_id, f.entity_id, f.attribute_id ORDER BY f.ts DESC) AS rn
  FROM fact_readings f
) newest
WHERE rn = 1;

INSERT INTO current_state (tenant_id, entity_id, attribute_id, attribute_name, entity_type, data_type,
  value_num, value_text, value_bool, value_ts, ts, source_lsn, loaded_at)
SELECT o.tenant_id, o.entity_id, a.attribute_id, o.attribute_name, o.entity_type, a.data_type,
  o.value_num,
  CASE WHEN a.data_type = 'timestamp' THEN NULL ELSE o.value_text END,
  o.value_bool,
  CASE WHEN a.data_type = 'timestamp' THEN CAST(o.value_text AS timestamptz) END,
  o.ts, o.source_lsn, o.loaded_at
FROM current_state_by_name o
JOIN dim_attributes a ON a.tenant_id = o.tenant_id AND a.name = o.attribute_name
WHERE NOT EXISTS (SELECT 1 FROM current_state c
                  WHERE c.tenant_id = o.tenant_id AND c.entity_id = o.entity_id AND c.attribute_id = a.attribute_id);

DROP TABLE current_state_by_name;
