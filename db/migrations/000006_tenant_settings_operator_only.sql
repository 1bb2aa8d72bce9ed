-- A tenant's settings (unknown-attribute policy, live window, rate limit) are
-- the operator's to set, not the application role's: a tenant request must
-- never be able to raise its own rate limit. atlas_app keeps SELECT on its
-- own row; the operator updates as the owner (with app.tenant_id set).
REVOKE UPDATE ON tenants FROM atlas_app;
