-- Workflow definitions: the manifest as JSON text for the engine to read,
-- and the manifest as submitted (a BLOB) to serve back verbatim. IDs are
-- UUIDv7 in text form, which sorts by creation time, so the primary key
-- serves keyset pagination; timestamps are Unix microseconds, UTC.
CREATE TABLE workflows (
    id              TEXT PRIMARY KEY,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    version         TEXT NOT NULL DEFAULT '',
    description     TEXT NOT NULL DEFAULT '',
    api_version     TEXT NOT NULL DEFAULT '',
    definition      TEXT NOT NULL CHECK (json_valid(definition)),
    manifest_format TEXT,
    manifest_body   BLOB,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (namespace, name)
) STRICT;

CREATE INDEX workflows_namespace_id ON workflows (namespace, id);
