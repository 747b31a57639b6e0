-- Tenancy: a token may be bound to one property, whose data alone it reads (every read filters by
-- it); empty is every property, as for every token created before this migration.
ALTER TABLE access_tokens ADD COLUMN IF NOT EXISTS property String DEFAULT ''
    COMMENT 'the one property the token reads; empty: every property';
