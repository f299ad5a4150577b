-- Agents registered with the gateway. IDs are UUIDv7, so the primary key
-- orders agents by creation time and serves keyset pagination.
--
-- Every statement is safe to run twice (IF NOT EXISTS): a version row lost
-- from ossa_schema_migrations makes Open apply its file again, and that must
-- repair the record rather than fail on objects that already exist.
CREATE TABLE IF NOT EXISTS agents (
    id           uuid PRIMARY KEY,
    namespace    text NOT NULL,
    name         text NOT NULL,
    type         text NOT NULL,
    capabilities text[] NOT NULL DEFAULT '{}',
    endpoint     text NOT NULL DEFAULT '',
    description  text NOT NULL DEFAULT '',
    version      text NOT NULL DEFAULT '',
    labels       jsonb NOT NULL DEFAULT '{}',
    metadata     jsonb NOT NULL DEFAULT '{}',
    status       text NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    CONSTRAINT agents_namespace_name_key UNIQUE (namespace, name)
);

-- Listing pages through one namespace in ID order.
CREATE INDEX IF NOT EXISTS agents_namespace_id ON agents (namespace, id);

-- Filtering by capability (capabilities @> ARRAY[...]) and by labels
-- (labels @> '{...}'); jsonb_path_ops is smaller and serves only @>, the
-- one operator the store uses on labels.
CREATE INDEX IF NOT EXISTS agents_capabilities ON agents USING gin (capabilities);
CREATE INDEX IF NOT EXISTS agents_labels ON agents USING gin (labels jsonb_path_ops);
