-- Roles of the platform. Roles are cluster-global (every database of the
-- server sees them), so they are created only when missing, and a concurrent
-- creation by a migration of another database on the same server is tolerated.
--
--   atlas_app     NOLOGIN, NOBYPASSRLS: every tenant-facing transaction runs as
--                 it (SET LOCAL ROLE atlas_app) with app.tenant_id set, so
--                 row-level security decides what is visible.
--   atlas_writer  NOLOGIN, BYPASSRLS: the batch writer (COPY into staging,
--                 stage_flush). The only role granted on the staging table.
--
-- The login user (postgres locally, the RDS master/IAM user in AWS) owns the
-- objects and is made a member of both so it can SET ROLE.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'atlas_app') THEN
    BEGIN
      CREATE ROLE atlas_app NOLOGIN NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'atlas_writer') THEN
    BEGIN
      CREATE ROLE atlas_writer NOLOGIN BYPASSRLS;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL;
      -- Only a superuser may grant BYPASSRLS on PostgreSQL 15. Where the
      -- migrating user is not one, the writer gets permissive policies instead
      -- (see 000002 / 000003: policies "writer_all").
      WHEN insufficient_privilege THEN
        BEGIN
          CREATE ROLE atlas_writer NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END;
  END IF;
END
$$;

-- Membership so the service login can SET ROLE. A superuser is already
-- allowed to, but the grant is harmless and keeps RDS and local alike.
DO $$
BEGIN
  IF NOT pg_has_role(current_user, 'atlas_app', 'MEMBER') THEN
    EXECUTE format('GRANT atlas_app TO %I', current_user);
  END IF;
  IF NOT pg_has_role(current_user, 'atlas_writer', 'MEMBER') THEN
    EXECUTE format('GRANT atlas_writer TO %I', current_user);
  END IF;
END
$$;

-- Nothing in this schema is for PUBLIC.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO atlas_app, atlas_writer;

-- The tenant of the current transaction, or NULL when unset: every policy
-- compares with it, so an unset tenant matches no row (fail closed).
CREATE FUNCTION atlas_current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;
