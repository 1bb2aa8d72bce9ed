-- Webhooks (issue 18; app/webhooks/README.md): per-tenant endpoints, and a
-- transactional outbox of deliveries written by the batch writer's flush
-- transaction (atlas_webhook_capture, called between the COPY into staging
-- and stage_flush) and by entity deletions (a statement trigger). A delivery
-- row exists only if the change it reports committed, and it commits with it.
SET LOCAL timezone = 'UTC';

CREATE TABLE webhook_endpoints (
  endpoint_id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id          uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  url                text NOT NULL,
  event_types        text[] NOT NULL,
  filter_entity_type text,
  -- NULL: every attribute; else only these appear in `changes` (and an entity
  -- whose batch changed none of them gets no event on this endpoint).
  filter_attributes  text[],
  description        text,
  enabled            boolean NOT NULL DEFAULT true,
  disabled_reason    text,
  disabled_at        timestamptz,
  -- The signing secrets, sealed with WEBHOOK_SECRET_KEY (AES-256-GCM,
  -- app/webhooks/registry/secret-box.ts): a dump of this table alone does not
  -- reveal them. The previous one keeps signing until previous_expires_at
  -- (rotation overlap, 24 h).
  secret_sealed      text NOT NULL,
  previous_secret_sealed text,
  previous_expires_at    timestamptz,
  -- Since when every attempt failed (NULL: the last attempt succeeded). Five
  -- days of that disables the endpoint.
  failing_since      timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id) WHERE enabled;

-- One row per (endpoint, event): the message of Standard Webhooks. delivery_id
-- is the webhook-id (stable across retries); seq orders an entity's events on
-- an endpoint (see atlas_webhook_capture on why seq order is commit order).
CREATE TABLE webhook_deliveries (
  delivery_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq             bigint GENERATED ALWAYS AS IDENTITY,
  -- No foreign key to tenants: the endpoint's cascades from it, and the check
  -- cost the flush ~35 us per event (measured).
  tenant_id       uuid NOT NULL,
  endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints ON DELETE CASCADE,
  entity_id       bigint,
  event_type      text NOT NULL,
  data            jsonb NOT NULL,
  -- clock_timestamp() inside the committing transaction, before stage_flush
  -- and COMMIT: never after the commit, so a lag measured from it is never
  -- smaller than the true commit-to-send lag (it may be larger by the flush).
  committed_at    timestamptz NOT NULL,
  state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'failed')),
  attempts        int NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  leased_until    timestamptz,
  last_status     int,
  last_error      text,
  last_attempt_at timestamptz,
  delivered_at    timestamptz
);
-- The worker's queue: the head of each (endpoint, entity) line.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, entity_id, seq) WHERE state = 'pending';
-- GET /v1/webhooks/{id}/deliveries: newest first.
CREATE INDEX webhook_deliveries_listing ON webhook_deliveries (endpoint_id, seq DESC);

CREATE TABLE webhook_attempts (
  delivery_id  uuid NOT NULL REFERENCES webhook_deliveries ON DELETE CASCADE,
  attempt      int NOT NULL,
  tenant_id    uuid NOT NULL,
  attempted_at timestamptz NOT NULL,
  status       int,
  latency_ms   int NOT NULL,
  error        text,
  PRIMARY KEY (delivery_id, attempt)
);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['webhook_endpoints', 'webhook_deliveries', 'webhook_attempts'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
      USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
      WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    IF NOT (SELECT rolbypassrls FROM pg_roles WHERE rolname = 'atlas_writer') THEN
      EXECUTE format('CREATE POLICY writer_all ON %I TO atlas_writer USING (true) WITH CHECK (true)', t);
    END IF;
  END LOOP;
END
$$;
REVOKE ALL ON webhook_endpoints, webhook_deliveries, webhook_attempts FROM PUBLIC;
-- The API: its tenant's endpoints; deliveries to list, retry, and (deletions
-- run as atlas_app) entity.deleted to enqueue.
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO atlas_app;
GRANT SELECT, INSERT, UPDATE (state, attempts, next_attempt_at, leased_until) ON webhook_deliveries TO atlas_app;
GRANT SELECT ON webhook_attempts TO atlas_app;
-- The writer enqueues; the delivery worker (atlas_writer too) sends and records.
GRANT SELECT, UPDATE (enabled, disabled_reason, disabled_at, failing_since, previous_secret_sealed, previous_expires_at) ON webhook_endpoints TO atlas_writer;
GRANT SELECT, INSERT, UPDATE (state, attempts, next_attempt_at, leased_until, last_status, last_error, last_attempt_at, delivered_at) ON webhook_deliveries TO atlas_writer;
GRANT SELECT, INSERT ON webhook_attempts TO atlas_writer;

-- The changes of a staged batch, as events on every enabled endpoint that
-- subscribes to them: one row per (endpoint, entity) with the changed
-- subscribed attributes' old and new values. Called in the flush
-- transaction BEFORE stage_flush, so entity_latest still holds the old
-- values; an attribute changes when the batch's newest reading of it is
-- newer by device time than the stored latest (stage_flush's own rule) and
-- its value differs. p_tenants: the batch's tenants (the writer knows them
-- from its messages), so a batch of tenants without endpoints costs one
-- index probe and never reads staging. Returns the number of deliveries.
--
-- For subscribed tenants' entities, a transaction advisory lock per entity
-- (taken in key order: no deadlock between batches) makes concurrent
-- flushes of the same entity (live and backfill topics, direct-mode
-- requests) take their seq and commit in the same order, so seq order is
-- commit order and each batch reads the previous one's committed values as "old".
CREATE FUNCTION atlas_webhook_capture(p_batch_id uuid, p_tenants uuid[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  v_tenants uuid[];
  v_n int;
BEGIN
  SELECT array_agg(DISTINCT w.tenant_id) INTO v_tenants
  FROM webhook_endpoints w WHERE w.enabled AND w.tenant_id = ANY (p_tenants);
  IF v_tenants IS NULL THEN
    RETURN 0;
  END IF;
  PERFORM pg_advisory_xact_lock(k.tenant_key, k.entity_key)
  FROM (
    SELECT DISTINCT hashtext(s.tenant_id::text) AS tenant_key, (s.entity_id % 2147483647)::int AS entity_key
    FROM entity_values_staging s
    WHERE s.batch_id = p_batch_id AND s.tenant_id = ANY (v_tenants)
    ORDER BY 1, 2
  ) k;

  WITH newest AS (
    SELECT DISTINCT ON (s.tenant_id, s.entity_id, s.attribute_id) s.*
    FROM entity_values_staging s
    WHERE s.batch_id = p_batch_id AND s.tenant_id = ANY (v_tenants)
    ORDER BY s.tenant_id, s.entity_id, s.attribute_id, s.ts DESC
  ), changed AS (
    -- The raw columns are compared (cheap); only changed values become JSON.
    SELECT n.tenant_id, n.entity_id, coalesce(e.entity_type, n.entity_type, 'unknown') AS entity_type,
           CASE WHEN e.entity_id IS NULL THEN 'entity.created' ELSE 'entity.updated' END AS event_type,
           a.name, n.ts,
           CASE WHEN l.ts IS NOT NULL THEN atlas_value_json(a.data_type, l.value_int, l.value_decimal, l.value_bool, l.value_string, l.value_ts) END AS old_value,
           atlas_value_json(a.data_type, n.value_int, n.value_decimal, n.value_bool, n.value_string, n.value_ts) AS new_value
    FROM newest n
    JOIN attributes a ON a.tenant_id = n.tenant_id AND a.attribute_id = n.attribute_id
    LEFT JOIN entities e ON e.tenant_id = n.tenant_id AND e.entity_id = n.entity_id
    LEFT JOIN entity_latest l ON l.tenant_id = n.tenant_id AND l.entity_id = n.entity_id AND l.attribute_id = n.attribute_id
    WHERE l.ts IS NULL
       OR (n.ts > l.ts AND (n.value_int, n.value_decimal, n.value_bool, n.value_string, n.value_ts)
                           IS DISTINCT FROM (l.value_int, l.value_decimal, l.value_bool, l.value_string, l.value_ts))
  )
  INSERT INTO webhook_deliveries (tenant_id, endpoint_id, entity_id, event_type, data, committed_at)
  SELECT ev.tenant_id, w.endpoint_id, ev.entity_id, ev.event_type,
         jsonb_build_object(
           'entity_id', ev.entity_id,
           'entity_type', ev.entity_type,
           'changes', jsonb_object_agg(ev.name, jsonb_build_object('old', ev.old_value, 'new', ev.new_value, 'ts', atlas_iso(ev.ts))),
           'occurred_at', atlas_iso(max(ev.ts))),
         clock_timestamp()
  FROM changed ev
  JOIN webhook_endpoints w
    ON w.tenant_id = ev.tenant_id AND w.enabled AND ev.event_type = ANY (w.event_types)
   AND (w.filter_entity_type IS NULL OR w.filter_entity_type = ev.entity_type)
   AND (w.filter_attributes IS NULL OR ev.name = ANY (w.filter_attributes))
  GROUP BY ev.tenant_id, ev.entity_id, ev.entity_type, ev.event_type, w.endpoint_id
  ORDER BY ev.tenant_id, ev.entity_id, w.endpoint_id;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;
REVOKE EXECUTE ON FUNCTION atlas_webhook_capture(uuid, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atlas_webhook_capture(uuid, uuid[]) TO atlas_writer;

-- entity.deleted: in the deleting transaction (a deletion job runs as
-- atlas_app under the tenant's scope; row-level security limits the
-- endpoints it sees to that tenant's). One statement trigger, so a tenant
-- erase or a large delete costs one pass, not a call per row.
CREATE FUNCTION atlas_webhook_entities_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled AND 'entity.deleted' = ANY (event_types)) THEN
    RETURN NULL;
  END IF;
  INSERT INTO webhook_deliveries (tenant_id, endpoint_id, entity_id, event_type, data, committed_at)
  SELECT g.tenant_id, w.endpoint_id, g.entity_id, 'entity.deleted',
         jsonb_build_object('entity_id', g.entity_id, 'entity_type', g.entity_type, 'changes', '{}'::jsonb, 'occurred_at', atlas_iso(clock_timestamp())),
         clock_timestamp()
  FROM gone g
  JOIN webhook_endpoints w
    ON w.tenant_id = g.tenant_id AND w.enabled AND 'entity.deleted' = ANY (w.event_types)
   AND (w.filter_entity_type IS NULL OR w.filter_entity_type = g.entity_type)
  ORDER BY g.tenant_id, g.entity_id, w.endpoint_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER entities_webhook_deleted
  AFTER DELETE ON entities REFERENCING OLD TABLE AS gone
  FOR EACH STATEMENT EXECUTE FUNCTION atlas_webhook_entities_deleted();
