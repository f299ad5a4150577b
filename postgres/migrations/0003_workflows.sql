-- Workflow definitions: the manifest as jsonb for the engine to read, and
-- the manifest as submitted (bytea) to serve back verbatim. IDs are UUIDv7,
-- so the primary key orders workflows by creation time and serves keyset
-- pagination, as for agents.
--
-- Safe to run twice (IF NOT EXISTS), as every migration must be.
CREATE TABLE IF NOT EXISTS workflows (
    id              uuid PRIMARY KEY,
    namespace       text NOT NULL,
    name            text NOT NULL,
    version         text NOT NULL DEFAULT '',
    description     text NOT NULL DEFAULT '',
    api_version     text NOT NULL DEFAULT '',
    definition      jsonb NOT NULL,
    manifest_format text,
    manifest_body   bytea,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT workflows_namespace_name_key UNIQUE (namespace, name)
);

-- Listing pages through one namespace in ID order.
CREATE INDEX IF NOT EXISTS workflows_namespace_id ON workflows (namespace, id);
