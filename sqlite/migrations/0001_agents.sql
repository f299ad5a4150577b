-- Agents registered with the gateway. Capabilities and labels are JSON
-- (an array and an object); timestamps are Unix microseconds, UTC.
CREATE TABLE agents (
    id           TEXT PRIMARY KEY,
    namespace    TEXT NOT NULL,
    name         TEXT NOT NULL,
    type         TEXT NOT NULL,
    capabilities TEXT NOT NULL DEFAULT '[]',
    endpoint     TEXT NOT NULL DEFAULT '',
    description  TEXT NOT NULL DEFAULT '',
    version      TEXT NOT NULL DEFAULT '',
    labels       TEXT NOT NULL DEFAULT '{}',
    metadata     TEXT NOT NULL DEFAULT '{}',
    status       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (namespace, name)
) STRICT;

CREATE INDEX agents_namespace_id ON agents (namespace, id);
