-- Tenancy: a dashboards user may be bound to one property, whose data alone the dashboards show
-- it (dashboards.auth.viewer_property); empty is every property, as for every user saved before
-- this migration. Every row of a user carries it and the newest row is in force (argMax, see
-- 0043), so binding a user is an insert like any other change. Read role only: administration is
-- not per property (warehouse.users).
ALTER TABLE dashboard_users ADD COLUMN IF NOT EXISTS property String DEFAULT ''
    COMMENT 'the one property the user reads; empty: every property';
