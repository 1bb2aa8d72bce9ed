-- The analytics warehouse: PostgreSQL locally (WAREHOUSE_URL), Redshift in AWS.
-- Loaded only by the CDC loader (app/cdc/loader) from the Debezium topics.
--
-- Portable on purpose: no uuid/jsonb/text types (Redshift has none of them:
-- ids are varchar(36), free text varchar(65535)), no ON CONFLICT (the loader
-- merges with DELETE ... USING + INSERT ... SELECT from a temp table, which
-- both run). PRIMARY KEYs are enforced by PostgreSQL and informational in
-- Redshift, where the loader's merge is what keeps keys unique.
-- On Redshift add to CREATE TABLE (PostgreSQL does not parse them):
--   fact_readings   DISTKEY(entity_id) COMPOUND SORTKEY(tenant_id, attribute_id, ts)
--   current_state   DISTKEY(entity_id) SORTKEY(tenant_id, entity_id)
--   dim_*           DISTSTYLE ALL
-- and drop the CREATE INDEX statements (Redshift has zone maps, no indexes).

-- One row per reading ever stored on the primary (entity_values_ts), with
-- its dimensions denormalised (entity_type, attribute_name, data_type) and
-- the value in one column per kind. Key = the primary's key.
CREATE TABLE fact_readings (
  tenant_id       varchar(36)      NOT NULL,
  entity_id       bigint           NOT NULL,
  attribute_id    int              NOT NULL,
  ts              timestamptz      NOT NULL,  -- device time
  day             date             NOT NULL,  -- UTC day of ts
  entity_type     varchar(256),               -- NULL until the entity's dimension row arrived
  attribute_name  varchar(128),               -- NULL until the attribute's dimension row arrived
  data_type       varchar(16)      NOT NULL,  -- int | decimal | bool | string | timestamp
  value_num       double precision,           -- int and decimal
  value_text      varchar(65535),
  value_bool      boolean,
  value_ts        timestamptz,
  received_at     timestamptz,
  source_ts       timestamptz      NOT NULL,  -- commit time on the primary (Debezium source.ts_ms)
  source_lsn      bigint           NOT NULL,
  loaded_at       timestamptz      NOT NULL,  -- when the loader wrote it (its transaction commits right after)
  PRIMARY KEY (tenant_id, entity_id, attribute_id, ts)
);
-- Analytics per attribute over a time range, always within one tenant.
CREATE INDEX fact_readings_attribute_ts ON fact_readings (tenant_id, attribute_id, ts);
-- Reconciliation counts per tenant and day.
CREATE INDEX fact_readings_tenant_day ON fact_readings (tenant_id, day);

-- The latest value of every attribute of every entity, from the primary's
-- projection (entity_jsonb.latest): the newest by device time, late data
-- never overwriting newer (the primary already applied that rule).
CREATE TABLE current_state (
  tenant_id       varchar(36)      NOT NULL,
  entity_id       bigint           NOT NULL,
  attribute_name  varchar(128)     NOT NULL,
  attribute_id    int,
  entity_type     varchar(256),
  value_num       double precision,
  value_text      varchar(65535),
  value_bool      boolean,
  ts              timestamptz      NOT NULL,
  source_lsn      bigint           NOT NULL,
  loaded_at       timestamptz      NOT NULL,
  PRIMARY KEY (tenant_id, entity_id, attribute_name)
);

CREATE TABLE dim_tenants (
  tenant_id   varchar(36)   NOT NULL PRIMARY KEY,
  name        varchar(200)  NOT NULL,
  created_at  timestamptz,
  source_lsn  bigint        NOT NULL,
  loaded_at   timestamptz   NOT NULL
);

CREATE TABLE dim_attributes (
  tenant_id     varchar(36)   NOT NULL,
  attribute_id  int           NOT NULL,
  name          varchar(128)  NOT NULL,
  data_type     varchar(16)   NOT NULL,
  is_hot        boolean       NOT NULL,
  created_at    timestamptz,
  source_lsn    bigint        NOT NULL,
  loaded_at     timestamptz   NOT NULL,
  PRIMARY KEY (tenant_id, attribute_id)
);
CREATE INDEX dim_attributes_name ON dim_attributes (tenant_id, name);

CREATE TABLE dim_entities (
  tenant_id    varchar(36)   NOT NULL,
  entity_id    bigint        NOT NULL,
  entity_type  varchar(256)  NOT NULL,
  created_at   timestamptz,
  source_lsn   bigint        NOT NULL,
  loaded_at    timestamptz   NOT NULL,
  PRIMARY KEY (tenant_id, entity_id)
);
CREATE INDEX dim_entities_type ON dim_entities (tenant_id, entity_type);

-- Per consumer group and source partition: how far the warehouse is loaded.
-- last_source_ts is the newest primary commit time loaded from that
-- partition; pending is the partition's backlog (messages behind the high
-- watermark) when it was last loaded. app/cdc/watermark.ts turns this into
-- the lag that analytics answers report. Written in the same transaction as
-- the rows it describes.
CREATE TABLE loader_watermarks (
  consumer_group   varchar(128)  NOT NULL,
  topic            varchar(249)  NOT NULL,
  kafka_partition  int           NOT NULL,  -- "partition" is reserved in Redshift
  last_offset      bigint        NOT NULL,
  last_source_ts   timestamptz,
  last_lsn         bigint,
  pending          bigint        NOT NULL,
  last_loaded_at   timestamptz   NOT NULL,
  PRIMARY KEY (consumer_group, topic, kafka_partition)
);
